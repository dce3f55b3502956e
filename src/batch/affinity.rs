//! Which task a free lane takes next: tasks of one file stay on the lane that ran one of
//! them ([`BatchSettings::affinity`](super::feed::BatchSettings::affinity)), so its prompt
//! cache keeps serving.

use std::collections::{HashMap, VecDeque};

use super::tasks::{Kind, Task};

/// Tasks that share a file, kept on one lane ([`BatchSettings::affinity`]).
#[derive(Default)]
pub(super) struct Affinity {
    /// The file of each request in flight that started a task.
    keys: HashMap<u64, String>,
    in_flight: HashMap<String, usize>,
    /// Files whose task just finished, oldest first: their next task goes first.
    preferred: VecDeque<String>,
}

/// The most queued tasks searched for one of a given file.
const AFFINITY_SCAN: usize = 4096;

pub(super) fn task_file(t: &Task) -> Option<String> {
    match &t.kind {
        Kind::Fim { path, .. } => path.clone(),
        Kind::File { path } => Some(path.display().to_string()),
        Kind::Instruction { .. } => None,
    }
}

impl Affinity {
    /// The next task to start: one of a file whose task just finished, else the first of
    /// a file with nothing in flight, else the first.
    pub(super) fn pick(&mut self, tasks: &mut VecDeque<Task>) -> Option<Task> {
        let scan = || tasks.iter().take(AFFINITY_SCAN).map(task_file);
        let mut at = None;
        while let Some(file) = self.preferred.pop_front() {
            if let Some(i) = scan().position(|f| f.as_ref() == Some(&file)) {
                at = Some(i);
                break;
            }
        }
        let at = at
            .or_else(|| scan().position(|f| f.is_none_or(|f| !self.in_flight.contains_key(&f))))
            .unwrap_or(0);
        tasks.remove(at)
    }

    pub(super) fn started(&mut self, tag: u64, file: Option<String>) {
        if let Some(f) = file {
            *self.in_flight.entry(f.clone()).or_default() += 1;
            self.keys.insert(tag, f);
        }
    }

    pub(super) fn finished(&mut self, tag: u64) {
        let Some(f) = self.keys.remove(&tag) else {
            return;
        };
        if let Some(n) = self.in_flight.get_mut(&f) {
            *n -= 1;
            if *n == 0 {
                self.in_flight.remove(&f);
            }
        }
        if !self.preferred.contains(&f) {
            self.preferred.push_back(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, path: Option<&str>) -> Task {
        Task {
            line: 1,
            id: id.into(),
            kind: Kind::Fim {
                prefix: String::new(),
                suffix: String::new(),
                language: None,
                path: path.map(str::to_string),
            },
        }
    }

    #[test]
    fn tasks_of_one_file_stay_on_the_lane_that_ran_one() {
        let mut tasks: VecDeque<Task> = [
            task("a1", Some("a.py")),
            task("a2", Some("a.py")),
            task("a3", Some("a.py")),
            task("b1", Some("b.py")),
            task("b2", Some("b.py")),
            task("x", None),
        ]
        .into();
        let mut a = Affinity::default();
        let start = |a: &mut Affinity, tasks: &mut VecDeque<Task>, tag| {
            let t = a.pick(tasks).unwrap();
            a.started(tag, task_file(&t));
            t.id
        };
        // Two lanes start on two files, not both on a.py.
        assert_eq!(start(&mut a, &mut tasks, 1), "a1");
        assert_eq!(start(&mut a, &mut tasks, 2), "b1");
        // b1's lane takes b.py's next task; a1's lane a.py's.
        a.finished(2);
        assert_eq!(start(&mut a, &mut tasks, 3), "b2");
        a.finished(1);
        assert_eq!(start(&mut a, &mut tasks, 4), "a2");
        // b.py has no task left: the lane takes a task of a file nobody works on.
        a.finished(3);
        assert_eq!(start(&mut a, &mut tasks, 5), "x");
        a.finished(4);
        assert_eq!(start(&mut a, &mut tasks, 6), "a3");
        assert!(a.pick(&mut tasks).is_none());
    }
}
