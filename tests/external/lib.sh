# Sourced by tests/external/<program>.sh. Each such script is one make target
# (`make test-<program>`): it installs its outside program when it is missing
# (apt-get only then), and runs the ignored tests that need it through
# `run_ignored`, naming the program in an environment variable.

CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "root is needed to run: $*" >&2
    exit 1
  fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null
}

# run_ignored FILTER [VAR=VALUE...]: the ignored tests whose names contain FILTER,
# with VAR set; fails when none ran, so a renamed test cannot drop out unnoticed.
run_ignored() {
  local filter=$1 log status=0
  shift
  log=$(mktemp)
  env "$@" "$CARGO" test --tests -- --ignored "$filter" 2>&1 | tee "$log" || status=$?
  if [ "$status" = 0 ] && ! grep -q "^test .*$filter.* \.\.\. ok$" "$log"; then
    echo "no test named *$filter* ran" >&2
    status=1
  fi
  rm -f "$log"
  return "$status"
}

# ensure_redis_server WHO: installs Debian's redis-server when it is missing
# (for make test-backplane and the bench-scale targets).
ensure_redis_server() {
  if ! command -v redis-server >/dev/null; then
    echo "$1: installing redis-server"
    apt_install redis-server
  fi
}

# python_venv NAME MODULE PACKAGE==VERSION: python3 (with venv, from apt when missing) and a
# venv in $TARGET/external/NAME holding PACKAGE, made again when MODULE does not import;
# sets $venv_python.
python_venv() {
  local name=$1 module=$2 package=$3 venv
  # Debian ships ensurepip, which venv needs, in python3-venv.
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "$name: installing python3 and python3-venv"
    apt_install python3 python3-venv
  fi
  venv="$TARGET/external/$name"
  if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    echo "$name: installing $package into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
  fi
  venv_python="$venv/bin/python"
}
