//! Registry unit tests: membership, ids, retained messages and limits.

use super::*;

#[test]
fn rooms_exist_while_joined_and_go_on_last_leave() {
    let registry = Registry::new(vec![], false);
    let a = registry.join("/a", Role::Member).unwrap();
    let b = registry.join("/a", Role::Publisher).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(registry.len(), 1);
    assert!(a.is_publisher_fed());
    registry.leave(&b, Role::Publisher);
    assert!(!a.is_publisher_fed());
    registry.leave(&a, Role::Member);
    assert_eq!(registry.len(), 0);
    let again = registry.join("/a", Role::Member).unwrap();
    assert_ne!(again.id, a.id, "a new room gets a new id");
}

#[test]
fn room_ids_are_not_reused_past_the_u32_wrap_point() {
    let registry = Registry::new(vec![], false);
    let long_lived = registry.join("/long-lived", Role::Member).unwrap();
    registry.continue_ids_from(u32::MAX.into());
    let mut ids = vec![long_lived.id];
    for n in 0..3 {
        let room = registry.join(&format!("/r{n}"), Role::Member).unwrap();
        assert!(!ids.contains(&room.id), "id {} given twice", room.id);
        ids.push(room.id);
        registry.leave(&room, Role::Member);
    }
    assert!(ids[1..].iter().all(|&id| id >= RoomId::from(u32::MAX)));
}

#[test]
fn retained_rooms_outlive_members_until_the_ttl() {
    let registry = Registry::new(vec![], true);
    let room = registry.join("/prices", Role::Member).unwrap();
    registry.published(&room, &Frame::from(&b"\x81\x0242"[..]));
    registry.leave(&room, Role::Member);
    assert_eq!(registry.len(), 1);
    registry.expire(Duration::from_secs(60));
    assert_eq!(registry.len(), 1);
    std::thread::sleep(Duration::from_millis(20));
    registry.expire(Duration::from_millis(10));
    assert_eq!(registry.len(), 0);
}

#[test]
fn the_watcher_hears_first_and_last_connections_and_publishers() {
    let registry = Registry::new(vec![], true);
    let changes = registry.watch();
    let a = registry.join("/a", Role::Member).unwrap();
    registry.join("/a", Role::Member).unwrap();
    registry.join("/a", Role::Publisher).unwrap();
    registry.leave(&a, Role::Publisher);
    registry.leave(&a, Role::Member);
    registry.leave(&a, Role::Member);
    let heard: Vec<usize> = changes.try_iter().map(|r| r.id as usize).collect();
    assert_eq!(
        heard.len(),
        4,
        "first join, publisher in and out, last leave"
    );
    let b = registry.join("/b", Role::Member).unwrap();
    assert!(registry.adopt_retained(&b, &Frame::from(&b"\x81\x01x"[..])));
    assert!(!registry.adopt_retained(&b, &Frame::from(&b"\x81\x01y"[..])));
    registry.forget("/b");
    assert_eq!(registry.len(), 1, "not while joined");
    registry.leave(&b, Role::Member);
    assert_eq!(registry.len(), 1, "kept for its retained message");
    registry.forget("/b");
    assert!(registry.is_empty());
}

#[test]
fn publisher_only_globs_mark_rooms() {
    let registry = Registry::new(vec!["/game/*".into()], false);
    assert!(
        registry
            .join("/game/42", Role::Member)
            .unwrap()
            .is_publisher_fed()
    );
    assert!(
        !registry
            .join("/chat", Role::Member)
            .unwrap()
            .is_publisher_fed()
    );
}

#[test]
fn past_max_rooms_new_rooms_are_refused_and_existing_ones_joined() {
    let registry = Registry::new(vec![], true).with_limits(2, 1 << 20);
    let a = registry.join("/a", Role::Member).unwrap();
    registry.open("/b").unwrap();
    assert_eq!(registry.join("/c", Role::Member).unwrap_err().limit, 2);
    assert!(registry.open("/c").is_err());
    assert!(registry.admits("/c").is_err());
    assert!(registry.admits("/a").is_ok());
    let a2 = registry.join("/a", Role::Publisher).unwrap();
    assert!(Arc::ptr_eq(&a, &a2));
    assert_eq!(registry.usage().refused, 3);
    registry.leave(&a2, Role::Publisher);
    registry.leave(&a, Role::Member);
    assert!(registry.join("/c", Role::Member).is_ok(), "/a went");
}

#[test]
fn retained_messages_share_one_budget_and_evicted_rooms_go_at_the_next_sweep() {
    let frame = |byte: u8| Frame::from(vec![byte; 40]);
    let registry = Registry::new(vec![], true).with_limits(10, 100);
    for (name, byte) in [("/a", b'a'), ("/b", b'b'), ("/c", b'c')] {
        let room = registry.open(name).unwrap();
        registry.published(&room, &frame(byte));
    }
    let usage = registry.usage();
    assert_eq!((usage.retained_bytes, usage.retain_evictions), (80, 1));
    assert_eq!(usage.retain_limit, 100);
    let a = registry.get("/a").unwrap();
    assert_eq!(registry.retained(&a), None, "the oldest went");
    registry.expire(Duration::from_secs(60));
    assert!(
        registry.get("/a").is_none(),
        "an empty room without a message goes"
    );
    assert_eq!(registry.len(), 2);
    // A publish still holding a room that is gone keeps nothing for it.
    registry.published(&a, &frame(b'x'));
    assert_eq!(registry.usage().retained_bytes, 80);
}

#[test]
fn a_room_removed_with_its_retained_message_gives_back_its_bytes() {
    let registry = Registry::new(vec![], true);
    let room = registry.join("/feed", Role::Member).unwrap();
    registry.published(&room, &Frame::from(&b"\x81\x0242"[..]));
    registry.leave(&room, Role::Member);
    assert_eq!(registry.usage().retained_bytes, 4);
    registry.forget("/feed");
    assert_eq!(registry.usage().retained_bytes, 0);
    assert!(registry.is_empty());
}
