//! The planner's invariants (the module's doc), checked by executing plans on a simulated
//! cell store that keeps, for each cell, the tokens it attended to when it was decoded.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// A cell of the simulated store, as llama.cpp's: one position shared by its sequences.
#[derive(Debug, Clone)]
struct Cell {
    id: usize,
    token: u8,
    pos: usize,
    seqs: BTreeSet<i32>,
    /// The tokens in front of it, by position, when it was decoded.
    seen: Vec<u8>,
}

#[derive(Debug, Default)]
struct Store {
    cells: Vec<Cell>,
    next_id: usize,
    /// The sequence and position of the last token decoded with logits.
    logits: Option<(i32, usize)>,
}

impl Store {
    fn seq(&self, seq: i32) -> Vec<&Cell> {
        let mut cells: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|c| c.seqs.contains(&seq))
            .collect();
        cells.sort_by_key(|c| c.pos);
        cells
    }

    fn run(&mut self, op: &Op<u8>) {
        let within =
            |pos: usize, from: usize, to: Option<usize>| from <= pos && to.is_none_or(|t| pos < t);
        match op {
            Op::Remove { seq, from, to } => {
                for c in &mut self.cells {
                    if within(c.pos, *from, *to) {
                        c.seqs.remove(seq);
                    }
                }
                self.cells.retain(|c| !c.seqs.is_empty());
            }
            Op::Shift {
                seq,
                from,
                to,
                delta,
            } => {
                for c in &mut self.cells {
                    if c.seqs.contains(seq) && within(c.pos, *from, Some(*to)) {
                        // A shared cell has one position: moving it would move it in
                        // the other sequences too.
                        assert_eq!(c.seqs.len(), 1, "moved a shared cell: {c:?}");
                        c.pos = (c.pos as isize + delta) as usize;
                    }
                }
            }
            Op::Copy { src, dst, from, to } => {
                for c in &mut self.cells {
                    if c.seqs.contains(src) && within(c.pos, *from, *to) {
                        c.seqs.insert(*dst);
                    }
                }
            }
            Op::Decode {
                seq,
                at,
                tokens,
                logits,
            } => {
                // llama.cpp decodes a sequence forward only: right after its last cell.
                let next = self.seq(*seq).last().map_or(0, |c| c.pos + 1);
                assert_eq!(*at, next, "decoded sequence {seq} out of order");
                for (j, &token) in tokens.iter().enumerate() {
                    let seen = self.seq(*seq).iter().map(|c| c.token).collect();
                    self.next_id += 1;
                    self.cells.push(Cell {
                        id: self.next_id,
                        token,
                        pos: at + j,
                        seqs: BTreeSet::from([*seq]),
                        seen,
                    });
                }
                self.logits = logits.then(|| (*seq, at + tokens.len() - 1));
            }
        }
    }

    fn ids(&self, seq: i32) -> Vec<usize> {
        self.seq(seq).iter().map(|c| c.id).collect()
    }
}

/// The engine's state in the simulation: the planner's record and the store.
#[derive(Default)]
struct Engine {
    cache: Cache<u8>,
    store: Store,
}

impl Engine {
    /// Runs the plan for `prompt` and checks the invariants; returns the plan.
    fn read(&mut self, prompt: &[u8], shift: Option<usize>) -> Plan<u8> {
        let plan = self.cache.plan(prompt, shift, true);
        let before = self.store.ids(0);
        let mut keep = common_prefix(&self.cache.cached, prompt);
        if keep == prompt.len() {
            keep -= 1;
        }
        for op in &plan.ops {
            self.store.run(op);
        }
        self.cache = plan.after.clone();
        self.check(prompt);
        // 4: the common prefix's cells are the same cells.
        assert_eq!(
            self.store.ids(0)[..keep],
            before[..keep],
            "the common prefix was decoded again"
        );
        // The count of reused tokens is the count of cells that were not decoded now.
        let old: BTreeSet<usize> = before.into_iter().collect();
        let kept = self
            .store
            .ids(0)
            .iter()
            .filter(|id| old.contains(id))
            .count();
        assert!(
            plan.reused <= kept,
            "reused {} of {kept} kept cells",
            plan.reused
        );
        plan
    }

    /// The invariants after a plan for `prompt`.
    fn check(&self, prompt: &[u8]) {
        let cells = self.store.seq(0);
        // 1: one cell per token at its position, the last token's logits.
        let tokens: Vec<u8> = cells.iter().map(|c| c.token).collect();
        let positions: Vec<usize> = cells.iter().map(|c| c.pos).collect();
        assert_eq!(tokens, prompt);
        assert_eq!(positions, (0..prompt.len()).collect::<Vec<_>>());
        assert_eq!(self.cache.cached, prompt);
        assert_eq!(self.cache.prompt_len, prompt.len());
        let last = self.store.logits.expect("a token with logits");
        assert_eq!(
            last.1,
            prompt.len() - 1,
            "the logits are not the last token's"
        );
        // 2: the scratch sequence is empty.
        assert!(self.store.seq(SCRATCH_SEQ).is_empty());
        self.check_stale();
    }

    /// 3: every moved cell lies in a stale part, whose count is bounded.
    fn check_stale(&self) {
        let c = &self.cache;
        assert!(c.stale.tokens <= MAX_STALE && c.head_stale.tokens <= MAX_STALE);
        let from = [c.stale.from, c.head_stale.from]
            .into_iter()
            .flatten()
            .min();
        for cell in self.store.seq(0) {
            let now: Vec<u8> = c.cached[..cell.pos].to_vec();
            if cell.seen != now {
                assert!(
                    from.is_some_and(|f| f <= cell.pos),
                    "cell {} was moved, stale parts {:?} {:?}",
                    cell.pos,
                    c.stale,
                    c.head_stale
                );
            }
        }
    }

    /// Generates `tokens` after the prompt, as the runner does.
    fn generate(&mut self, tokens: &[u8]) {
        for &t in tokens {
            let at = self.cache.cached.len();
            self.store.run(&Op::Decode {
                seq: 0,
                at,
                tokens: vec![t],
                logits: true,
            });
            self.cache.cached.push(t);
        }
    }

    /// A warm-up's refresh, stopped after `steps` steps of `step` tokens.
    fn refresh(&mut self, step: usize, steps: usize) {
        let Some(r) = self.cache.refresh(usize::MAX) else {
            return;
        };
        for op in r.start() {
            self.store.run(&op);
        }
        let mut pos = r.from;
        for _ in 0..steps {
            if pos >= r.end {
                break;
            }
            let n = step.min(r.end - pos);
            self.store.run(&r.step(&self.cache.cached, pos, n));
            pos += n;
        }
        for op in r.finish(pos) {
            self.store.run(&op);
        }
        self.cache = r.after(&self.cache, pos);
        let cells = self.store.seq(0);
        assert_eq!(cells.len(), r.end);
        assert!(self.store.seq(SCRATCH_SEQ).is_empty());
        self.check_stale();
    }
}

/// What the user and the server do between two prompts.
#[derive(Debug, Clone)]
enum Action {
    /// Types these tokens at the cursor.
    Type(Vec<u8>),
    /// Deletes up to this many tokens before the cursor.
    Delete(usize),
    /// Moves the cursor to this fraction of the file.
    Jump(f64),
    /// The context from other files at the head becomes these tokens.
    Head(Vec<u8>),
    /// A warm-up refreshes moved cells, preempted after this many steps.
    Refresh(usize),
}

fn tokens(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..40, 1..max)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => tokens(12).prop_map(Action::Type),
        2 => (1usize..10).prop_map(Action::Delete),
        1 => (0.0f64..1.0).prop_map(Action::Jump),
        1 => prop_oneof![tokens(40), tokens(300)].prop_map(Action::Head),
        1 => (0usize..4).prop_map(Action::Refresh),
    ]
}

/// The token between a prompt's prefix and suffix.
const HOLE: u8 = 250;

/// The fill-in-the-middle prompt of a file with the cursor at `cursor`.
fn prompt(head: &[u8], file: &[u8], cursor: usize) -> Vec<u8> {
    let mut p = head.to_vec();
    p.extend_from_slice(&file[..cursor]);
    p.push(HOLE);
    p.extend_from_slice(&file[cursor..]);
    p.push(251);
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// For any sequence of edits, context changes, generations and refreshes, executing
    /// each prompt's plan leaves the cells a fresh read would (tokens and positions),
    /// with every moved cell counted stale.
    #[test]
    fn plans_give_the_cells_of_a_fresh_read(
        head in tokens(60),
        file in prop::collection::vec(0u8..40, 100..700),
        start in 0.0f64..1.0,
        actions in prop::collection::vec((action(), prop::option::of(0usize..4), prop::collection::vec(0u8..40, 0..6)), 1..40),
    ) {
        let (mut head, mut file) = (head, file);
        let mut cursor = (file.len() as f64 * start) as usize;
        let mut e = Engine::default();
        e.read(&prompt(&head, &file, cursor), None);
        for (action, shift, generated) in actions {
            match action {
                Action::Type(t) => {
                    file.splice(cursor..cursor, t.iter().copied());
                    cursor += t.len();
                }
                Action::Delete(n) => {
                    let from = cursor.saturating_sub(n);
                    file.drain(from..cursor);
                    cursor = from;
                }
                Action::Jump(f) => cursor = (file.len() as f64 * f) as usize,
                Action::Head(h) => head = h,
                Action::Refresh(steps) => {
                    e.refresh(16, steps);
                    continue;
                }
            }
            e.read(&prompt(&head, &file, cursor), shift);
            e.generate(&generated);
        }
    }
}

#[test]
fn typing_moves_the_suffix_and_decodes_the_edit_and_the_fresh_tokens() {
    let file: Vec<u8> = (0..200).map(|i| (i % 37) as u8).collect();
    let mut e = Engine::default();
    let cursor = 100;
    e.read(&prompt(&[], &file, cursor), Some(2));
    let before = e.store.ids(0);
    let mut typed = file.clone();
    typed.splice(cursor..cursor, [39, 38]);
    let plan = e.read(&prompt(&[], &typed, cursor + 2), Some(2));
    // Kept: the 100 tokens before the cursor; decoded: the 2 typed, 2 fresh tokens after
    // them (the separator and the suffix's first) and the final token; moved: the rest of
    // the suffix.
    let decoded: usize = plan
        .ops
        .iter()
        .map(|op| match op {
            Op::Decode { tokens, .. } => tokens.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(decoded, 2 + 2 + 1);
    assert_eq!(plan.reused, 204 - 5);
    let after = e.store.seq(0);
    assert!(after[..100].iter().zip(&before).all(|(c, id)| c.id == *id));
    // 5: the fresh tokens after the edit saw the edit.
    for cell in &after[102..104] {
        assert_eq!(cell.seen, e.cache.cached[..cell.pos]);
    }
    assert_eq!(
        e.cache.stale,
        Stale {
            tokens: 2,
            from: Some(104)
        }
    );
    // Without a shift the suffix is decoded again, and nothing is stale.
    let mut again = typed.clone();
    again.insert(cursor + 2, 37);
    let plan = e.read(&prompt(&[], &again, cursor + 3), None);
    assert_eq!(plan.reused, cursor + 2);
    assert_eq!(e.cache.stale, Stale::default());
}

#[test]
fn the_same_prompt_decodes_its_last_token_again() {
    let mut e = Engine::default();
    let p: Vec<u8> = (0..50).collect();
    e.read(&p, Some(2));
    e.generate(&[1, 2, 3]);
    let plan = e.read(&p, Some(2));
    assert_eq!(plan.reused, 49);
    assert_eq!(
        plan.ops,
        [
            Op::Remove {
                seq: 0,
                from: 49,
                to: None
            },
            Op::Decode {
                seq: 0,
                at: 49,
                tokens: vec![49],
                logits: true
            }
        ]
    );
}

#[test]
fn a_changed_head_moves_the_file_behind_it() {
    // The context from other files changes (the head) and the user types at the cursor:
    // the file between is moved behind the new head, not decoded again.
    let file: Vec<u8> = (0..300).map(|i| (i * 7 % 40) as u8).collect();
    let old_head = vec![1u8; 30];
    let mut e = Engine::default();
    e.read(&prompt(&old_head, &file, 250), Some(2));
    let mut typed = file.clone();
    typed.insert(250, 39);
    let new_head = vec![2u8; 45];
    let plan = e.read(&prompt(&new_head, &typed, 251), Some(2));
    assert!(plan.reused > 250, "reused {}", plan.reused);
    assert!(e.cache.head_stale.tokens > 0);
}

#[test]
fn stale_parts_move_and_are_forgotten_once_read_again() {
    let mut s = Stale::default();
    s.add(5, 100);
    s.add(3, 120);
    assert_eq!((s.tokens, s.from), (8, Some(100)));
    // An edit in front of it moves it; one behind it does not.
    s.edited(50, 60, 67);
    assert_eq!(s.from, Some(107));
    s.edited(200, 210, 203);
    assert_eq!(s.from, Some(107));
    // Read again from behind its start: still stale; from its start: fresh.
    s.reread_from(110);
    assert_eq!(s.tokens, 8);
    s.reread_from(107);
    assert_eq!((s.tokens, s.from), (0, None));
}

/// Typing at the cursor decodes the typed tokens and the first ones after them afresh
/// and moves the rest of the suffix: the stale part is the moved rest, wherever the
/// cursor is, and reading the prompt again from the cursor forgets it. (It used to
/// keep the first edit's position: once the bound forced a read, every later request
/// read the suffix again.)
#[test]
fn the_stale_part_follows_the_cursor() {
    let mut s = Stale::default();
    // The cursor at 266: typed 2 tokens, 2 fresh, the suffix moved from 268 to 270.
    s.edited(266, 268, 270);
    s.add(2, 270);
    // Typed on at 268: the cells from there to the moved ones are new, those move.
    s.edited(268, 270, 272);
    s.add(2, 272);
    assert_eq!((s.tokens, s.from), (4, Some(272)));
    // Read again from the cursor (268 + 2 typed): nothing stale is left.
    s.reread_from(270);
    assert_eq!((s.tokens, s.from), (0, None));
    // A stale part in front of an edit stays where it is.
    s.add(3, 100);
    s.edited(150, 160, 170);
    assert_eq!(s.from, Some(100));
}

#[test]
fn a_refresh_forgets_what_it_decoded_again() {
    let stale = |from| Stale {
        tokens: 70,
        from: Some(from),
    };
    // Decoded again to the end: nothing stale is left.
    let mut s = stale(100);
    s.refreshed(100, 300, 300);
    assert_eq!((s.tokens, s.from), (0, None));
    // Preempted half-way: the rest is stale, and still counts what changed.
    let mut s = stale(100);
    s.refreshed(100, 180, 300);
    assert_eq!((s.tokens, s.from), (70, Some(180)));
    // A part that starts in front of the refresh, or behind where it stopped, stays.
    let mut s = stale(50);
    s.refreshed(100, 300, 300);
    assert_eq!(s.from, Some(50));
    let mut s = stale(200);
    s.refreshed(100, 180, 300);
    assert_eq!(s.from, Some(200));
}

#[test]
fn the_longest_run_near_the_head_is_found_in_both() {
    // A changed head (1 2 -> 7 8 9), the same body, an edit at the end.
    let old = [1, 2, 10, 11, 12, 13, 14, 3];
    let new = [7, 8, 9, 10, 11, 12, 13, 14, 5];
    assert_eq!(best_run(&old, &new, 3, 8), Some((2, 3)));
    // [30 31 32 33] is longer than [20 21]; starting past 3 in `new`, it is too far.
    let old = [20, 21, 1, 30, 31, 32, 33];
    let new = [9, 20, 21, 2, 30, 31, 32, 33];
    assert_eq!(best_run(&old, &new, 2, 8), Some((3, 4)));
    assert_eq!(best_run(&old, &new, 2, 3), Some((0, 1)));
    assert_eq!(best_run::<u8>(&[], &[1], 1, 8), None);
    assert_eq!(best_run(&[1, 2], &[3, 4], 1, 8), None);
}

/// A file of `n` tokens without repeated runs (as code mostly is).
fn varied(n: usize) -> Vec<u8> {
    let mut x = 7u32;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            ((x >> 16) % 40) as u8
        })
        .collect()
}

/// A prompt laid out as the cursor's, completing at another place of the file (a next
/// edit's argument): the prefix runs on to there, the suffix to where the cursor's ends.
fn aside(file: &[u8], at: usize) -> Vec<u8> {
    prompt(&[], file, at)
}

#[test]
fn a_prompt_aside_from_the_cursor_decodes_only_the_code_between() {
    let file = varied(700);
    let cursor = 200;
    for at in [300, 120, 201] {
        let mut e = Engine::default();
        e.read(&prompt(&[], &file, cursor), Some(2));
        e.generate(&[1, 2]);
        let p = aside(&file, at);
        let cost = e.cache.cost(&p, Some(2), true);
        // Near the cursor, the code between it and `at` changes sides of the hole as an
        // edit: it is decoded, with the separator, the fresh tokens after it and the last
        // token; the code after both is moved as while typing. (Farther, it is moved
        // across the hole, `move_common_run`.)
        assert_eq!(cost, at.abs_diff(cursor) + 4, "at {at}");
        e.read(&p, Some(2));
    }
}
