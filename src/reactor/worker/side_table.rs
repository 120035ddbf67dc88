//! Per-connection state that only some configurations need.

/// State that only some configurations need, kept beside the slab and
/// indexed by slab key so that `Slot` does not pay for it when unused.
pub(super) struct SideTable<T> {
    entries: Vec<Option<T>>,
}

impl<T> SideTable<T> {
    pub(super) fn new() -> Self {
        SideTable {
            entries: Vec::new(),
        }
    }

    pub(super) fn set(&mut self, key: usize, value: T) {
        if self.entries.len() <= key {
            self.entries.resize_with(key + 1, || None);
        }
        self.entries[key] = Some(value);
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key)?.as_mut()
    }

    pub(super) fn take(&mut self, key: usize) -> Option<T> {
        self.entries.get_mut(key)?.take()
    }
}
