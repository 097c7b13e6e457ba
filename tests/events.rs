//! Change events: one per publication to every subscriber (and one line on the `ringroute` log
//! target), with the exact moved fraction; none computed without a listener.

use std::sync::{Arc, Mutex};

use ringroute::{moved_fraction, ChangeEvent, Node, Placement, Reweight, Router};

fn router(names: &[&str]) -> Router {
    let r = Router::new(Placement::native());
    r.update(|tx| {
        for n in names {
            tx.add_node(Node::new(*n))?;
        }
        Ok(())
    })
    .unwrap();
    r
}

/// A logger that keeps the `ringroute` target's lines.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "ringroute" && m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn events_carry_every_change_and_the_exact_moved_fraction() {
    let r = router(&["a", "b", "c"]);
    let events = r.subscribe();
    let before = r.load();
    r.update(|tx| {
        tx.add_node(Node::new("d"))?;
        tx.remove_node("a")?;
        tx.set_weight("b", 3)
    })
    .unwrap();
    let after = r.load();
    let e = events.try_recv().unwrap();
    assert_eq!(e.version, after.version());
    assert_eq!(e.added, ["d"]);
    assert_eq!(e.removed, ["a"]);
    assert_eq!(
        e.reweighted,
        [Reweight {
            name: "b".into(),
            from: 1,
            to: 3
        }]
    );
    assert_eq!(e.moved, moved_fraction(&before, &after).unwrap());
    assert_eq!((e.points_added, e.points_removed), (128 * 3, 128));
    assert_eq!(e.kind(), "change");
    assert!(events.try_recv().is_err(), "one event per publication");

    r.mark_down("c").unwrap();
    let e = events.try_recv().unwrap();
    assert_eq!(
        (e.kind(), e.down.as_slice(), e.moved),
        ("node_down", &["c".to_owned()][..], 0.0)
    );
    r.mark_up("c").unwrap();
    assert_eq!(events.try_recv().unwrap().up, ["c"]);
    // Nothing changed: nothing published, no event.
    r.update(|_| Ok(())).unwrap();
    assert!(events.try_recv().is_err());
}

#[test]
fn every_subscriber_gets_each_event_and_dropped_ones_are_forgotten() {
    let r = router(&["a"]);
    let (x, y) = (r.subscribe(), r.subscribe());
    r.add_node(Node::new("b")).unwrap();
    let (ex, ey): (Arc<ChangeEvent>, Arc<ChangeEvent>) = (x.recv().unwrap(), y.recv().unwrap());
    assert!(Arc::ptr_eq(&ex, &ey));
    assert_eq!(ex.kind(), "node_add");
    drop(y);
    r.add_node(Node::new("c")).unwrap();
    assert_eq!(x.recv().unwrap().added, ["c"]);
    // From another thread too: the receiver is Send.
    let handle = std::thread::spawn(move || x.recv().unwrap().removed.clone());
    r.remove_node("a").unwrap();
    assert_eq!(handle.join().unwrap(), ["a"]);
}

#[test]
fn the_log_target_gets_one_structured_line_per_publication() {
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let r = router(&["a", "b"]);
    LOG.0.lock().unwrap().retain(|l| !l.contains("added=a,b"));
    let mark = format!("version={} ", r.version() + 1);
    r.add_node(Node::new("solo-node-x")).unwrap();
    let lines = LOG.0.lock().unwrap().clone();
    let line = lines
        .iter()
        .find(|l| l.contains("added=solo-node-x"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(line.starts_with("event=node_add "), "{line}");
    assert!(
        line.contains(&mark) && line.contains("vnodes_added=128 vnodes_removed=0"),
        "{line}"
    );
    assert!(
        line.contains(" moved=0.") && line.contains(" timestamp="),
        "{line}"
    );
}

#[test]
fn publish_times_are_kept_once_asked_for() {
    let r = router(&["a"]);
    assert_eq!(r.publish_times(), None);
    r.track_publish_times();
    r.add_node(Node::new("b")).unwrap();
    r.mark_down("a").unwrap();
    r.update(|_| Ok(())).unwrap(); // publishes nothing
    r.track_publish_times(); // keeps the times so far
    let t = r.publish_times().unwrap();
    assert_eq!(t.count, 2);
    assert!(t.sum > 0.0);
    assert!(t.buckets.windows(2).all(|w| w[0] <= w[1]));
    assert!(*t.buckets.last().unwrap() <= t.count);
}
