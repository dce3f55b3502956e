//! Streams in flight side by side: a batch's requests (`quill batch` through a server) and
//! ranked candidates, which are the same request once per rank. A candidate of rank above
//! 0 first asks for a few tokens with the server's most likely alternatives ("probe"),
//! then generates after the one of its rank where the greedy answer's code starts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Instant;

use super::http::{self, Msg, Stream};
use super::wire::TokenLogprob;
use super::{Ask, POLL, Progress, RemoteBackend, no_scores, prefill_only};
use crate::engine::{
    Answers, BatchSource, CancelToken, Confidence, EngineError, Generate, Output, Piece, Request,
    Sampling, StopFn, StopReason, Work,
};

/// Tokens a ranked candidate's probe asks for: enough for a line's indentation.
const PROBE_TOKENS: u32 = 4;

/// Where a ranked candidate leaves the greedy answer: its first token that is not
/// indentation (spaces and tabs after nothing else); `None` while all are.
fn branch_point(probed: &[TokenLogprob]) -> Option<usize> {
    probed
        .iter()
        .position(|t| t.text.is_empty() || !t.text.chars().all(|c| c == ' ' || c == '\t'))
}

/// The `rank`-th most likely first token (1: the one after the greedy `chosen`) among the
/// reported `top` ones that are text: not the end of generation, not part of a character.
fn nth_first(top: &[(String, f32)], chosen: Option<&str>, rank: usize) -> Option<(String, f32)> {
    let special = |t: &str| t.starts_with("<|") && t.ends_with("|>");
    let mut seen_chosen = false;
    top.iter()
        .filter(|(t, _)| {
            // The greedy token is the first candidate's, once.
            if !seen_chosen && Some(t.as_str()) == chosen {
                seen_chosen = true;
                return false;
            }
            !t.is_empty() && !special(t)
        })
        .nth(rank.checked_sub(1)?)
        .cloned()
}

/// Ranked candidates as one batch: the same request once per rank.
struct Fan {
    reqs: Vec<Option<Request>>,
    results: Vec<Option<Result<Output, EngineError>>>,
}

impl BatchSource for Fan {
    fn next(&mut self) -> Option<(u64, Request)> {
        let i = self.reqs.iter().position(Option::is_some)?;
        Some((i as u64, self.reqs[i].take()?))
    }

    fn done(&mut self, tag: u64, result: Result<Output, EngineError>) {
        self.results[tag as usize] = Some(result);
    }

    fn finished(&self) -> bool {
        self.results.iter().all(Option::is_some)
    }
}

/// A request's generation, owned by the lane that streams it.
struct LaneWork {
    prompt: Vec<Piece>,
    reuse_cache: bool,
    deadline: Option<Instant>,
    generation: Generate,
}

impl LaneWork {
    fn ask(&self) -> Ask<'_> {
        Ask {
            prompt: &self.prompt,
            reuse_cache: self.reuse_cache,
            generation: &self.generation,
        }
    }
}

impl RemoteBackend {
    /// One ranked candidate on its own ([`Answers::Rank`]): the same path as in a batch.
    pub(super) fn generate_rank(
        &mut self,
        req: Request,
        cancel: &CancelToken,
    ) -> Result<Output, EngineError> {
        let mut fan = Fan {
            reqs: vec![Some(req)],
            results: vec![None],
        };
        self.run_lanes(&mut fan, 1, cancel, 0)?;
        fan.results.pop().flatten().expect("the request ran")
    }

    /// Ranked candidates ([`Answers::Ranked`]): the request once per rank, side by
    /// side (the server batches them), rank `i` starting with the `i`-th most likely first
    /// token; the output has them all, the greedy one first, each with its confidence.
    pub(super) fn generate_candidates(
        &mut self,
        req: &Request,
        g: &mut Generate,
        cancel: &CancelToken,
    ) -> Result<Output, EngineError> {
        let Answers::Ranked {
            n,
            temperature,
            others_stop,
        } = &mut g.answers
        else {
            unreachable!("called for ranked candidates")
        };
        let (n, temperature) = (*n as usize, *temperature);
        // The candidates after the first share one stop rule.
        let others = others_stop
            .take()
            .map(|f| Arc::new(std::sync::Mutex::new(f)));
        let reqs = (0..n)
            .map(|rank| {
                let mut one = Generate::new(g.max_tokens);
                one.sampling = g.sampling;
                one.ignore_eog = g.ignore_eog;
                one.answers = Answers::Rank {
                    rank: rank as u32,
                    temperature,
                };
                one.stop = match (rank, &others) {
                    (0, _) => g.stop.take(),
                    (_, Some(f)) => {
                        let f = f.clone();
                        Some(
                            Box::new(move |t: &str| f.lock().map(|mut f| f(t)).unwrap_or(true))
                                as StopFn,
                        )
                    }
                    (_, None) => None,
                };
                let mut r = Request::new(req.prompt.clone(), Work::Generate(one));
                r.deadline = req.deadline;
                r.reuse_cache = req.reuse_cache;
                Some(r)
            })
            .collect();
        let mut fan = Fan {
            reqs,
            results: (0..n).map(|_| None).collect(),
        };
        self.run_lanes(&mut fan, n, cancel, 0)?;
        let mut results = fan.results.into_iter().flatten();
        let mut out = results.next().expect("the greedy candidate ran")?;
        for r in results {
            match r {
                Ok(o) => {
                    out.timings.generated_tokens += o.timings.generated_tokens;
                    out.candidates.extend(o.candidates);
                }
                Err(e) => tracing::debug!("a ranked candidate failed: {e}"),
            }
        }
        Ok(out)
    }

    /// Runs `source`'s requests with up to `parallel` streams in flight; a request for
    /// [`Answers::Rank`] above 0 first asks for one token and the most likely tokens at
    /// its place, then generates after the one of its rank.
    pub(super) fn run_lanes(
        &mut self,
        source: &mut dyn BatchSource,
        parallel: usize,
        cancel: &CancelToken,
        retries: u32,
    ) -> Result<(), EngineError> {
        let (tx, rx): (_, Receiver<Msg>) = mpsc::channel();
        let mut lanes: HashMap<u64, Lane> = HashMap::new();
        self.ensure_model();
        let open = |me: &mut Self, ask: Ask<'_>, after: &str, max: u32, lp: Option<u32>| {
            me.open(ask, after, max, lp, retries, &tx)
        };
        loop {
            cancel.check()?;
            while lanes.len() < parallel.max(1) {
                let Some((tag, req)) = source.next() else {
                    break;
                };
                let Request {
                    prompt,
                    work,
                    deadline,
                    reuse_cache,
                    ..
                } = req;
                let mut generation = match work {
                    Work::Generate(g) if g.max_tokens > 0 => g,
                    Work::Generate(_) | Work::Prefill { .. } => {
                        source.done(tag, Ok(prefill_only()));
                        continue;
                    }
                    Work::Score(_) => {
                        source.done(tag, Err(no_scores()));
                        continue;
                    }
                };
                let rank = match generation.answers {
                    Answers::Rank { rank, temperature } => Some((rank as usize, temperature)),
                    Answers::One | Answers::Ranked { .. } => None,
                };
                // A sampled alternative samples from its first token on: no probe.
                let probe = rank.filter(|&(r, t)| r > 0 && t <= 0.0).map(|(r, _)| r);
                if let Some((r, temperature)) = rank.filter(|&(r, t)| r > 0 && t > 0.0) {
                    generation.sampling = Sampling {
                        temperature,
                        top_k: crate::engine::CANDIDATE_TOP_K as i32,
                        top_p: 1.0,
                        seed: generation.sampling.seed.wrapping_add(r as u32),
                    };
                }
                let lane = LaneWork {
                    prompt,
                    reuse_cache,
                    deadline,
                    generation,
                };
                let max = lane.generation.max_tokens;
                let opened = match (rank, probe) {
                    (_, Some(r)) => open(self, lane.ask(), "", PROBE_TOKENS, Some(r as u32 + 2)),
                    (Some(_), None) => open(self, lane.ask(), "", max, Some(1)),
                    (None, _) => open(self, lane.ask(), "", max, None),
                };
                match opened {
                    Ok(stream) => {
                        let mut progress = Progress::new();
                        if probe.is_some() {
                            progress.probed = Some(Vec::new());
                        }
                        let lane = Lane {
                            tag,
                            work: lane,
                            progress,
                            _stream: stream,
                            probe,
                        };
                        lanes.insert(lane._stream.id, lane);
                    }
                    Err(e) => source.done(tag, Err(e)),
                }
            }
            if lanes.is_empty() {
                if source.finished() {
                    return Ok(());
                }
                return Err(EngineError::Backend("batch source stalled".into()));
            }
            let mut settled: Vec<(u64, Result<StopReason, EngineError>)> = Vec::new();
            match rx.recv_timeout(POLL) {
                Ok((id, msg)) => {
                    if let Some(lane) = lanes.get_mut(&id) {
                        match msg {
                            Ok(chunk) => {
                                if let Some(rank) = lane.probe {
                                    let ended = chunk.end;
                                    lane.progress.feed(chunk, &mut Generate::new(1));
                                    let probed = lane.progress.probed.as_deref().unwrap_or(&[]);
                                    if branch_point(probed).is_some() || ended {
                                        let lane = lanes.remove(&id).expect("a lane");
                                        let tag = lane.tag;
                                        match self.branch(lane, rank, |me, ask, after, max| {
                                            open(me, ask, after, max, Some(1))
                                        }) {
                                            Ok(lane) => {
                                                lanes.insert(lane._stream.id, lane);
                                            }
                                            Err(done) => source.done(tag, *done),
                                        }
                                    }
                                } else if let Some(stop) =
                                    lane.progress.feed(chunk, &mut lane.work.generation)
                                {
                                    settled.push((id, Ok(stop)));
                                }
                            }
                            Err(e) => settled.push((id, Err(e))),
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the sender is held here"),
            }
            let now = Instant::now();
            for (id, lane) in &lanes {
                if lane.work.deadline.is_some_and(|d| now >= d)
                    && !settled.iter().any(|s| s.0 == *id)
                {
                    settled.push((*id, Ok(StopReason::Deadline)));
                }
            }
            for (id, result) in settled {
                if let Some(lane) = lanes.remove(&id) {
                    if lane.probe.is_some() {
                        // Stopped (deadline) or failed before its first token: no candidate.
                        source.done(lane.tag, result.map(|_| no_candidate()));
                        continue;
                    }
                    let ranked = matches!(lane.work.generation.answers, Answers::Rank { .. });
                    let result = result.map(|stop| {
                        let mut out = lane.progress.output(stop);
                        if ranked && out.candidates.is_empty() {
                            // A server that reports no log-probabilities: the answer is
                            // still a candidate (and the only one: nothing to branch from).
                            out.candidates
                                .push(Confidence::default().candidate(out.text.clone(), stop));
                        }
                        out
                    });
                    source.done(lane.tag, result);
                }
            }
        }
    }
}

/// A stream in flight in [`RemoteBackend::run_lanes`].
struct Lane {
    tag: u64,
    work: LaneWork,
    progress: Progress,
    _stream: Stream,
    /// Waiting for the first token's alternatives, to continue after the `n`-th.
    probe: Option<usize>,
}

/// A ranked candidate whose first token the server did not offer.
fn no_candidate() -> Output {
    let mut out = prefill_only();
    out.stop = StopReason::EndOfGeneration;
    out
}

impl RemoteBackend {
    /// Starts streaming `ask`'s answer (its prompt followed by `after`) into `tx`.
    fn open(
        &mut self,
        ask: Ask<'_>,
        after: &str,
        max_tokens: u32,
        logprobs: Option<u32>,
        retries: u32,
        tx: &mpsc::Sender<Msg>,
    ) -> Result<Stream, EngineError> {
        let call = self.call(ask, after, max_tokens, logprobs)?;
        let id = self.id();
        Ok(http::start(
            &self.client,
            self.api,
            call,
            id,
            retries,
            tx.clone(),
        ))
    }

    /// A probe `lane` has the most likely tokens where the greedy answer's code starts
    /// (after its indentation): continues after the one of `rank` there in a new lane
    /// (`open` starts its stream), or ends with what there is.
    fn branch(
        &mut self,
        mut lane: Lane,
        rank: usize,
        open: impl FnOnce(&mut Self, Ask<'_>, &str, u32) -> Result<Stream, EngineError>,
    ) -> Result<Lane, Box<Result<Output, EngineError>>> {
        let probed = lane.progress.probed.take().unwrap_or_default();
        let Some(at) = branch_point(&probed).or(probed.len().checked_sub(1)) else {
            return Err(Box::new(Ok(no_candidate())));
        };
        let here = &probed[at];
        let chosen = Some(here.text.as_str()).filter(|t| !t.is_empty());
        let Some((first, logprob)) = nth_first(&here.top, chosen, rank) else {
            return Err(Box::new(Ok(no_candidate())));
        };
        // The greedy answer's indentation, then the alternative.
        let lead: String = probed[..at].iter().map(|t| t.text.as_str()).collect();
        let logprobs = probed[..at].iter().map(|t| t.logprob).chain([logprob]);
        let mut progress = Progress::starting_with(&(lead + &first), logprobs);
        progress.pieces = at as u32 + 1;
        progress.started = lane.progress.started;
        progress.first = lane.progress.first;
        let g = &mut lane.work.generation;
        let max = g.max_tokens.saturating_sub(at as u32 + 1);
        if g.stop.as_mut().is_some_and(|f| f(&progress.text)) {
            return Err(Box::new(Ok(progress.output(StopReason::StopRule))));
        }
        if max == 0 {
            return Err(Box::new(Ok(progress.output(StopReason::MaxTokens))));
        }
        let stream =
            open(self, lane.work.ask(), &progress.text, max).map_err(|e| Box::new(Err(e)))?;
        Ok(Lane {
            progress,
            _stream: stream,
            probe: None,
            ..lane
        })
    }
}
