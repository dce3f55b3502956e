//! The batch's [`BatchSource`]: turns tasks into engine requests and results into records.
//! Runs on the engine thread; records leave through a channel to the writer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use super::affinity::{Affinity, task_file};
use super::output::Record;
use super::tasks::{Kind, Task};
use crate::assist::answer::code_blocks;
use crate::complete::{Input, Prepared, finish, prepare, rescue, verify};
use crate::config::{CompletionConfig, Ranking};
use crate::engine::{
    Answers, BatchSource, ChatMessage, EngineError, Generate, ModelInfo, Output, Piece, Request,
    Sampling, Work,
};
use crate::holes::Filling;
use crate::lang::Language;
use crate::tokenizer::Counter;

/// How tasks are run.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    pub completion: CompletionConfig,
    /// Most tokens for an instruction's answer.
    pub max_tokens_instruction: u32,
    pub temperature: f32,
    pub seed: u32,
    /// Hand a lane whose task just finished the next task of the same file, and start
    /// tasks of different files side by side: for an inference server whose slots each
    /// keep their own prompt cache (llama-server picks the idle slot sharing the longest
    /// prefix), tasks of one file then reuse one slot's cache instead of every slot
    /// evaluating the file. The in-process batch shares cells between slots and needs
    /// no such order.
    pub affinity: bool,
}

/// A fill-in-the-middle task and the prompt made for it.
struct Fim {
    id: String,
    line: usize,
    text: String,
    offset: usize,
    language: Option<Language>,
    path: Option<String>,
    prepared: Prepared,
}

impl Fim {
    fn input(&self) -> Input<'_> {
        let mut input = Input::new(&self.text, self.offset);
        input.language = self.language;
        input
    }
}

/// A task's request in flight.
enum Running {
    Fim(Fim),
    /// One of a FIM task's ranked candidates; the group gathers them.
    Candidate {
        group: usize,
        rank: usize,
    },
    /// A FIM task's candidates read in place ([`crate::config::Ranking::Likelihood`]).
    Reading(Box<Reading>),
    Instruction {
        id: String,
        line: usize,
    },
    /// One hole of a file; the chain holds the rest.
    Hole {
        chain: usize,
        text: String,
        offset: usize,
        prepared: Prepared,
    },
}

/// A FIM task run as several ranked candidates, one request (batch slot) each.
struct Group {
    task: Fim,
    /// Finished candidates with their first token's rank.
    candidates: Vec<(usize, crate::engine::Candidate)>,
    left: usize,
    error: Option<String>,
    prompt_tokens: u64,
    generated_tokens: u64,
    /// The slowest candidate's time, and what the task's earlier requests took.
    ms: f64,
    spent_ms: f64,
}

/// A group's candidates while the model reads each in the hole.
struct Reading {
    task: Fim,
    candidates: Vec<crate::engine::Candidate>,
    ranked: Vec<crate::complete::Scored>,
    reading: verify::Reading,
    /// What the task cost before the reading.
    usage: Usage,
}

/// A file whose holes are filled one after the other.
struct Chain {
    id: String,
    line: usize,
    path: String,
    language: Option<Language>,
    filling: Filling,
    errors: Vec<String>,
    prompt_tokens: u64,
    generated_tokens: u64,
    ms: f64,
}

pub struct TaskFeed {
    tasks: VecDeque<Task>,
    affinity: Option<Affinity>,
    ready: VecDeque<(u64, Request)>,
    running: HashMap<u64, Running>,
    chains: Vec<Chain>,
    groups: Vec<Option<Group>>,
    next_tag: u64,
    info: Arc<ModelInfo>,
    counter: Counter,
    settings: BatchSettings,
    out: Sender<Record>,
}

fn seed_for(seed: u32, id: &str) -> u32 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h ^ seed
}

/// What requests cost: prompt tokens, generated tokens, milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Usage(u64, u64, f64);

fn usage(out: &Output) -> (u64, u64, f64) {
    let t = out.timings;
    (
        t.prompt_tokens as u64,
        t.generated_tokens as u64,
        t.prompt_ms + t.generate_ms,
    )
}

impl TaskFeed {
    pub fn new(
        tasks: Vec<Task>,
        info: Arc<ModelInfo>,
        counter: Counter,
        settings: BatchSettings,
        out: Sender<Record>,
    ) -> Self {
        TaskFeed {
            tasks: tasks.into(),
            affinity: settings.affinity.then(Affinity::default),
            ready: VecDeque::new(),
            running: HashMap::new(),
            chains: Vec::new(),
            groups: Vec::new(),
            next_tag: 0,
            info,
            counter,
            settings,
            out,
        }
    }

    fn tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    fn sampling(&self, id: &str) -> Sampling {
        Sampling {
            temperature: self.settings.temperature,
            seed: seed_for(self.settings.seed, id),
            ..Sampling::default()
        }
    }

    fn emit(&self, record: Record) {
        let _ = self.out.send(record);
    }

    fn fim_request(
        &self,
        id: &str,
        text: &str,
        offset: usize,
        language: Option<Language>,
        path: Option<&str>,
    ) -> Result<(Prepared, Request), String> {
        let mut input = Input::new(text, offset);
        input.language = language;
        input.path = path;
        let prepared = prepare(
            &input,
            &self.settings.completion,
            &*self.counter,
            &self.info,
        )
        .map_err(|e| e.to_string())?;
        let req = self.fim_request_for(&prepared, id, None);
        Ok((prepared, req))
    }

    /// `prepared`'s request with this batch's sampling; `answers` replaces what the
    /// settings ask for.
    fn fim_request_for(&self, prepared: &Prepared, id: &str, answers: Option<Answers>) -> Request {
        let cfg = &self.settings.completion;
        let mut g = prepared.generation(cfg);
        g.sampling = self.sampling(id);
        if let Some(a) = answers {
            g.answers = a;
        }
        prepared.request_for(g, cfg, None)
    }

    /// A FIM task's requests: one, or with `n` ranked candidates one per batch slot, the
    /// `i`-th starting with the `i`-th most likely first token (the slots share the
    /// prompt's cells).
    fn fim_requests(
        &self,
        id: &str,
        text: &str,
        offset: usize,
        language: Option<Language>,
        path: Option<String>,
        n: u32,
    ) -> Result<(Prepared, Vec<Request>), String> {
        let (prepared, first) = self.fim_request(id, text, offset, language, path.as_deref())?;
        if n <= 1 {
            return Ok((prepared, vec![first]));
        }
        let temperature = self.settings.completion.candidate_temperature;
        let reqs = (0..n)
            .map(|rank| {
                let rank = Answers::Rank { rank, temperature };
                self.fim_request_for(&prepared, id, Some(rank))
            })
            .collect();
        Ok((prepared, reqs))
    }

    /// Runs `task` as ranked candidates, one request each (queued in `ready`); a group
    /// gathers them. `spent`: what earlier requests for the task cost.
    fn group(&mut self, task: Fim, reqs: Vec<Request>, spent: Usage) {
        let group = self.groups.len();
        self.groups.push(Some(Group {
            task,
            candidates: Vec::new(),
            left: reqs.len(),
            error: None,
            prompt_tokens: spent.0,
            generated_tokens: spent.1,
            ms: 0.0,
            spent_ms: spent.2,
        }));
        for (rank, req) in reqs.into_iter().enumerate() {
            let tag = self.tag();
            self.running.insert(tag, Running::Candidate { group, rank });
            self.ready.push_back((tag, req));
        }
    }

    /// Turns the next task into a request; tasks that fail before reaching the model get
    /// their error record here.
    fn start_next_task(&mut self) -> Option<(u64, Request)> {
        loop {
            let task = match &mut self.affinity {
                Some(a) => a.pick(&mut self.tasks)?,
                None => self.tasks.pop_front()?,
            };
            let file = self.affinity.as_ref().and_then(|_| task_file(&task));
            let started = self.start_task(task);
            if let Some((tag, _)) = &started
                && let Some(a) = &mut self.affinity
            {
                a.started(*tag, file);
            }
            if started.is_some() {
                return started;
            }
            if self.tasks.is_empty() {
                return None;
            }
        }
    }

    /// Turns `task` into its first request; `None` when it ended before reaching the
    /// model (its error record is out).
    fn start_task(&mut self, task: Task) -> Option<(u64, Request)> {
        let Task { line, id, kind } = task;
        match kind {
            Kind::Fim {
                prefix,
                suffix,
                language,
                path,
            } => {
                let offset = prefix.len();
                let text = format!("{prefix}{suffix}");
                let n = self.settings.completion.candidates.max(1);
                match self.fim_requests(&id, &text, offset, language, path.clone(), n) {
                    Ok((prepared, mut reqs)) => {
                        let task = Fim {
                            id,
                            line,
                            text,
                            offset,
                            language,
                            path,
                            prepared,
                        };
                        if reqs.len() == 1 {
                            let tag = self.tag();
                            self.running.insert(tag, Running::Fim(task));
                            return Some((tag, reqs.remove(0)));
                        }
                        self.group(task, reqs, Usage::default());
                        return self.ready.pop_front();
                    }
                    Err(e) => self.emit(Record::error(Some(id), line, e)),
                }
            }
            Kind::Instruction {
                instruction,
                language,
                context,
            } => {
                let lang = language.map_or("", |l| l.name());
                let system = "You write code. Reply with the code only, in one fenced code block, with no explanation.";
                let mut user = format!("{instruction}\n");
                if !lang.is_empty() {
                    user.push_str(&format!("Language: {lang}.\n"));
                }
                if let Some(ctx) = context {
                    user.push_str(&format!(
                        "\nExisting code:\n```{lang}\n{}\n```\n",
                        ctx.trim_end()
                    ));
                }
                let mut g = Generate::new(self.settings.max_tokens_instruction);
                g.sampling = self.sampling(&id);
                let req = Request::new(
                    vec![Piece::Chat(vec![
                        ChatMessage::new("system", system),
                        ChatMessage::new("user", user),
                    ])],
                    Work::Generate(g),
                );
                let tag = self.tag();
                self.running.insert(tag, Running::Instruction { id, line });
                return Some((tag, req));
            }
            Kind::File { path } => {
                let text = match super::input::read_task_file(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        self.emit(Record::error(
                            Some(id),
                            line,
                            format!("{}: {e}", path.display()),
                        ));
                        return None;
                    }
                };
                let language = Language::detect(&path, &text);
                if crate::holes::find(&text, language).is_empty() {
                    self.emit(Record::error(
                        Some(id),
                        line,
                        format!("{} has no `{}` holes", path.display(), crate::holes::MARKER),
                    ));
                    return None;
                }
                self.chains.push(Chain {
                    id,
                    line,
                    path: path.display().to_string(),
                    language,
                    filling: Filling::new(&text, language),
                    errors: Vec::new(),
                    prompt_tokens: 0,
                    generated_tokens: 0,
                    ms: 0.0,
                });
                if let Some(r) = self.next_hole(self.chains.len() - 1) {
                    return Some(r);
                }
            }
        }
        None
    }

    /// The request for the chain's next hole, or its final record when none is left.
    fn next_hole(&mut self, chain: usize) -> Option<(u64, Request)> {
        loop {
            let c = &mut self.chains[chain];
            let Some((view, cursor)) = c.filling.next_hole() else {
                let c = &self.chains[chain];
                let record = Record {
                    id: Some(c.id.clone()),
                    line: c.line,
                    text: Some(c.filling.text().to_string()),
                    error: (!c.errors.is_empty()).then(|| c.errors.join("; ")),
                    prompt_tokens: c.prompt_tokens,
                    generated_tokens: c.generated_tokens,
                    ms: c.ms as u64,
                };
                self.emit(record);
                return None;
            };
            let (id, language, path) = (c.id.clone(), c.language, c.path.clone());
            match self.fim_request(&id, &view, cursor, language, Some(&path)) {
                Ok((prepared, req)) => {
                    let tag = self.tag();
                    self.running.insert(
                        tag,
                        Running::Hole {
                            chain,
                            text: view,
                            offset: cursor,
                            prepared,
                        },
                    );
                    return Some((tag, req));
                }
                Err(e) => {
                    let c = &mut self.chains[chain];
                    c.errors.push(e);
                    c.filling.skip();
                }
            }
        }
    }

    /// The record of a FIM task answered by the best of `candidates`.
    fn emit_ranked(
        &self,
        task: Fim,
        candidates: &[crate::engine::Candidate],
        ranking: Ranking,
        Usage(prompt_tokens, generated_tokens, ms): Usage,
    ) {
        let (text, _, _) = crate::complete::rank(
            &task.input(),
            &task.prepared.shape,
            candidates,
            self.settings.completion.syntax_check,
            ranking,
        );
        self.emit(Record {
            id: Some(task.id),
            line: task.line,
            text: Some(text),
            error: None,
            prompt_tokens,
            generated_tokens,
            ms: ms as u64,
        });
    }
}

impl BatchSource for TaskFeed {
    fn next(&mut self) -> Option<(u64, Request)> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        self.start_next_task()
    }

    fn done(&mut self, tag: u64, result: Result<Output, EngineError>) {
        if let Some(a) = &mut self.affinity {
            a.finished(tag);
        }
        let Some(running) = self.running.remove(&tag) else {
            return;
        };
        let syntax = self.settings.completion.syntax_check;
        match running {
            Running::Fim(task) => match result {
                Ok(out) => {
                    let (p, g, ms) = usage(&out);
                    let c = finish(
                        &task.input(),
                        &task.prepared,
                        out,
                        &self.settings.completion,
                    );
                    if let Some(n) = rescue(&c, &self.settings.completion) {
                        // Nothing left of what the model wrote: ranked candidates.
                        let (text, offset, language) =
                            (task.text.clone(), task.offset, task.language);
                        let path = task.path.clone();
                        if let Ok((_, reqs)) =
                            self.fim_requests(&task.id, &text, offset, language, path, n)
                        {
                            self.group(task, reqs, Usage(p, g, ms));
                            return;
                        }
                    }
                    self.emit(Record {
                        id: Some(task.id),
                        line: task.line,
                        text: Some(c.text),
                        error: None,
                        prompt_tokens: p,
                        generated_tokens: g,
                        ms: ms as u64,
                    });
                }
                Err(e) => self.emit(Record::error(Some(task.id), task.line, e.to_string())),
            },
            Running::Candidate { group, rank } => {
                let g = self.groups[group].as_mut().expect("a running group");
                g.left -= 1;
                match result {
                    Ok(out) => {
                        let (p, n, ms) = usage(&out);
                        g.prompt_tokens = g.prompt_tokens.max(p);
                        g.generated_tokens += n;
                        g.ms = g.ms.max(ms);
                        g.candidates
                            .extend(out.candidates.into_iter().map(|c| (rank, c)));
                    }
                    Err(e) => g.error = Some(e.to_string()),
                }
                if g.left > 0 {
                    return;
                }
                let mut g = self.groups[group].take().expect("a running group");
                // In rank order: the greedy answer wins ties.
                g.candidates.sort_by_key(|(rank, _)| *rank);
                let candidates: Vec<_> = g.candidates.into_iter().map(|(_, c)| c).collect();
                let task = g.task;
                if candidates.is_empty() {
                    let e = g.error.unwrap_or_else(|| "no candidate finished".into());
                    self.emit(Record::error(Some(task.id), task.line, e));
                    return;
                }
                let spent = Usage(g.prompt_tokens, g.generated_tokens, g.spent_ms + g.ms);
                let ranking = self.settings.completion.candidate_ranking;
                if ranking == Ranking::Likelihood
                    && let Some((req, reading, ranked)) =
                        verify::for_candidates(&task.input(), &task.prepared, &candidates, syntax)
                {
                    let tag = self.tag();
                    let read = Reading {
                        task,
                        candidates,
                        ranked,
                        reading,
                        usage: spent,
                    };
                    self.running.insert(tag, Running::Reading(Box::new(read)));
                    // First: the slot that generated the last candidate still holds
                    // the prompt; the next request would take its cells.
                    self.ready.push_front((tag, req));
                    return;
                }
                self.emit_ranked(task, &candidates, ranking, spent);
            }
            Running::Reading(read) => {
                let Reading {
                    task,
                    mut candidates,
                    ranked,
                    reading,
                    usage: Usage(p, g, ms),
                } = *read;
                let (ranking, ms) = match result {
                    Ok(out) => {
                        let read_ms = usage(&out).2;
                        verify::attach(&mut candidates, &ranked, &reading, out.fits);
                        (Ranking::Likelihood, ms + read_ms)
                    }
                    Err(why) => {
                        tracing::warn!(id = %task.id, %why, "candidates ranked by confidence instead of likelihood");
                        (Ranking::Confidence, ms)
                    }
                };
                self.emit_ranked(task, &candidates, ranking, Usage(p, g, ms));
            }
            Running::Instruction { id, line } => match result {
                Ok(out) => {
                    let (p, g, ms) = usage(&out);
                    let blocks = code_blocks(&out.text);
                    let code = blocks
                        .iter()
                        .max_by_key(|b| b.code.len())
                        .map_or_else(|| out.text.trim().to_string(), |b| b.code.clone());
                    self.emit(Record {
                        id: Some(id),
                        line,
                        text: Some(code),
                        error: None,
                        prompt_tokens: p,
                        generated_tokens: g,
                        ms: ms as u64,
                    });
                }
                Err(e) => self.emit(Record::error(Some(id), line, e.to_string())),
            },
            Running::Hole {
                chain,
                text,
                offset,
                prepared,
            } => {
                let c = &mut self.chains[chain];
                match result {
                    Ok(out) => {
                        let (p, g, ms) = usage(&out);
                        c.prompt_tokens += p;
                        c.generated_tokens += g;
                        c.ms += ms;
                        let mut input = Input::new(&text, offset);
                        input.language = c.language;
                        let done = finish(&input, &prepared, out, &self.settings.completion);
                        c.filling.fill(&done.text);
                    }
                    Err(e) => {
                        c.errors.push(e.to_string());
                        c.filling.skip();
                    }
                }
                if let Some(r) = self.next_hole(chain) {
                    self.ready.push_back(r);
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.tasks.is_empty() && self.ready.is_empty() && self.running.is_empty()
    }
}
