//! [`Fanout`]: several observers behind one (e.g. the `-v` tree and a `--trace` file).
//!
//! Each child hands out its own ids, so the fanout hands out ids of its own and translates
//! them per child: a child sees parent ids from its own id space, never another child's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::lock;

use super::{
    ApprovalEvent, CallEnd, CallStart, ModelRequestEvent, ModelResponseEvent, Observer,
    SwitchServed, ToolCallEvent,
};

/// Forwards every event to each child observer, in order.
pub struct Fanout {
    children: Vec<Arc<dyn Observer>>,
    next: AtomicU64,
    /// Fanout id of an open call or exchange → the ids its children gave it.
    ids: Mutex<HashMap<u64, Vec<u64>>>,
}

impl Fanout {
    /// One observer for `observers`: those that want no events are left out, a single one
    /// is used as it is (no id translation on every call), several are fanned out to.
    pub fn of(mut observers: Vec<Arc<dyn Observer>>) -> Arc<dyn Observer> {
        observers.retain(|o| o.enabled());
        match observers.len() {
            0 => Arc::new(super::Silent),
            1 => observers.remove(0),
            _ => Arc::new(Fanout {
                children: observers,
                next: AtomicU64::new(1),
                ids: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The id child `i` knows `parent` by.
    fn parent_for(&self, parent: Option<u64>, i: usize) -> Option<u64> {
        lock(&self.ids).get(&parent?)?.get(i).copied()
    }

    /// `f` on each child, with `parent` as that child knows it.
    fn each<T>(
        &self,
        parent: Option<u64>,
        f: impl Fn(&Arc<dyn Observer>, Option<u64>) -> T,
    ) -> Vec<T> {
        let children = self.children.iter().enumerate();
        children
            .map(|(i, c)| f(c, self.parent_for(parent, i)))
            .collect()
    }

    fn open(&self, child_ids: Vec<u64>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.ids).insert(id, child_ids);
        id
    }

    fn close(&self, id: u64) -> Vec<u64> {
        lock(&self.ids).remove(&id).unwrap_or_default()
    }
}

impl Observer for Fanout {
    fn call_start(&self, s: &CallStart) -> u64 {
        self.open(self.each(s.parent, |c, parent| {
            c.call_start(&CallStart { parent, ..*s })
        }))
    }

    fn call_end(&self, id: u64, end: &CallEnd) {
        let child_ids = self.close(id);
        for (c, cid) in self.children.iter().zip(child_ids) {
            c.call_end(cid, end);
        }
    }

    fn enabled(&self) -> bool {
        self.children.iter().any(|c| c.enabled())
    }

    fn wants(&self, kind: super::Kind) -> bool {
        self.children.iter().any(|c| c.wants(kind))
    }

    fn approval_event(&self, e: &ApprovalEvent) {
        self.each(e.parent, |c, parent| {
            c.approval_event(&ApprovalEvent { parent, ..*e });
        });
    }

    fn tool_call(&self, e: &ToolCallEvent) {
        self.each(e.parent, |c, parent| {
            c.tool_call(&ToolCallEvent { parent, ..*e });
        });
    }

    fn model_request(&self, e: &ModelRequestEvent) -> u64 {
        self.open(self.each(e.parent, |c, parent| {
            c.model_request(&ModelRequestEvent { parent, ..*e })
        }))
    }

    fn model_response(&self, id: u64, e: &ModelResponseEvent) {
        let child_ids = self.close(id);
        for (i, (c, cid)) in self.children.iter().zip(child_ids).enumerate() {
            let mut event = e.clone();
            event.parent = self.parent_for(e.parent, i);
            c.model_response(cid, &event);
        }
    }

    fn switch_served(&self, e: &SwitchServed) {
        self.each(e.parent, |c, parent| {
            c.switch_served(&SwitchServed { parent, ..*e });
        });
    }

    /// Flushes every child; the first failure is returned.
    fn flush(&self) -> std::io::Result<()> {
        let flushed: Vec<std::io::Result<()>> = self.children.iter().map(|c| c.flush()).collect();
        flushed.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Usage;
    use crate::trace::Kind;
    use serde_json::json;
    use std::time::Duration;

    /// Records (own id, parent it was given) for each call start.
    #[derive(Default)]
    struct Rec {
        next: AtomicU64,
        seen: Mutex<Vec<(u64, Option<u64>)>>,
        ended: Mutex<Vec<u64>>,
    }
    impl Observer for Rec {
        fn call_start(&self, s: &CallStart) -> u64 {
            let id = self.next.fetch_add(10, Ordering::Relaxed) + 100;
            self.seen.lock().unwrap().push((id, s.parent));
            id
        }
        fn call_end(&self, id: u64, _: &CallEnd) {
            self.ended.lock().unwrap().push(id);
        }
    }

    #[test]
    fn children_see_parents_in_their_own_id_space() {
        let a = Arc::new(Rec::default());
        let f = Fanout::of(vec![a.clone(), Arc::new(Rec::default())]);
        let input = json!(null);
        let start = |parent| CallStart {
            depth: 0,
            parent,
            kind: Kind::Neural,
            name: "w",
            input: &input,
        };
        let outer = f.call_start(&start(None));
        let inner = f.call_start(&start(Some(outer)));
        let end = CallEnd {
            depth: 0,
            name: "w",
            elapsed: Duration::ZERO,
            usage: Usage::default(),
            cost: None,
            result: Ok(&input),
        };
        f.call_end(inner, &end);
        f.call_end(outer, &end);
        assert_eq!(*a.seen.lock().unwrap(), vec![(100, None), (110, Some(100))]);
        assert_eq!(*a.ended.lock().unwrap(), vec![110, 100]);
        assert!(f.enabled());
    }
}
