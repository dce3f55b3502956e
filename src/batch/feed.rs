//! The batch's [`BatchSource`]: turns tasks into engine requests and results into records.
//! Runs on the engine thread; records leave through a channel to the writer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use super::affinity::{Affinity, task_file};
use super::output::Record;
use super::tasks::{Kind, Task};
use crate::assist::answer::code_blocks;
use crate::complete::{Completion, Input, Pipeline, RunOptions, Step};
use crate::config::CompletionConfig;
use crate::engine::{
    BatchSource, ChatMessage, EngineError, Generate, ModelInfo, Output, Piece, Request, Sampling,
    Work,
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

/// A completion in flight: the text it completes, its pipeline and the answers of the
/// pipeline's current step as they come (one slot per request handed out).
struct Flight {
    owner: Owner,
    text: String,
    offset: usize,
    language: Option<Language>,
    pipeline: Pipeline,
    answers: Vec<Option<Result<Output, EngineError>>>,
}

impl Flight {
    fn input(text: &str, offset: usize, language: Option<Language>) -> Input<'_> {
        let mut input = Input::new(text, offset);
        input.language = language;
        input
    }
}

/// Whose completion a flight is.
enum Owner {
    /// A fill-in-the-middle task.
    Task { id: String, line: usize },
    /// One hole of a file; the chain holds the rest.
    Hole { chain: usize },
}

/// A task's request in flight.
enum Running {
    /// The `i`-th request of flight `flight`'s current step.
    Flight {
        flight: usize,
        i: usize,
    },
    Instruction {
        id: String,
        line: usize,
    },
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
    flights: Vec<Option<Flight>>,
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
            flights: Vec::new(),
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

    /// Starts a completion of `text` at `offset` for `owner`: its first requests go to
    /// `ready`. An error (the prompt could not be made) comes back.
    fn start_flight(
        &mut self,
        owner: Owner,
        id: &str,
        text: String,
        offset: usize,
        (language, path): (Option<Language>, Option<&str>),
    ) -> Result<(), String> {
        let mut input = Input::new(&text, offset);
        input.language = language;
        input.path = path;
        let opts = RunOptions {
            sampling: Some(self.sampling(id)),
            // Each candidate in its own slot; the slots share the prompt's cells.
            split_ranks: true,
            ..RunOptions::default()
        };
        let (pipeline, step) = Pipeline::start(
            &input,
            &self.settings.completion,
            &*self.counter,
            &self.info,
            opts,
        )
        .map_err(|e| e.to_string())?;
        let flight = self.flights.len();
        self.flights.push(Some(Flight {
            owner,
            text,
            offset,
            language,
            pipeline,
            answers: Vec::new(),
        }));
        self.take_step(flight, step);
        Ok(())
    }

    /// Queues the requests of flight `flight`'s next step, or ends it.
    fn take_step(&mut self, flight: usize, step: Step) {
        let (reqs, first) = match step {
            Step::Generate(reqs) => (reqs, false),
            // The slot that generated the candidates still holds the prompt; the next
            // request would take its cells.
            Step::Read(req) => (vec![req], true),
            Step::Done(c) => {
                let f = self.flights[flight].take().expect("a flight in the air");
                self.landed(f.owner, Ok(c));
                return;
            }
        };
        let f = self.flights[flight].as_mut().expect("a flight in the air");
        f.answers = reqs.iter().map(|_| None).collect();
        for (i, req) in reqs.into_iter().enumerate() {
            let tag = self.tag();
            self.running.insert(tag, Running::Flight { flight, i });
            if first {
                self.ready.push_front((tag, req));
            } else {
                self.ready.push_back((tag, req));
            }
        }
    }

    /// An answer for flight `flight`: once its step has them all, the pipeline goes on.
    fn flight_answer(&mut self, flight: usize, i: usize, result: Result<Output, EngineError>) {
        let Some(f) = self.flights[flight].as_mut() else {
            return;
        };
        f.answers[i] = Some(result);
        if f.answers.iter().any(Option::is_none) {
            return;
        }
        let answers = std::mem::take(&mut f.answers)
            .into_iter()
            .flatten()
            .collect();
        let input = Flight::input(&f.text, f.offset, f.language);
        match f.pipeline.advance(&input, answers) {
            Ok(step) => self.take_step(flight, step),
            Err(e) => {
                let f = self.flights[flight].take().expect("a flight in the air");
                self.landed(f.owner, Err(e.to_string()));
            }
        }
    }

    /// A flight's completion (or why there is none) goes to its owner.
    fn landed(&mut self, owner: Owner, result: Result<Completion, String>) {
        match owner {
            Owner::Task { id, line } => match result {
                Ok(c) => {
                    let t = c.timings;
                    self.emit(Record {
                        id: Some(id),
                        line,
                        text: Some(c.text),
                        error: None,
                        prompt_tokens: t.prompt_tokens as u64,
                        generated_tokens: t.generated_tokens as u64,
                        ms: (t.prompt_ms + t.generate_ms) as u64,
                    });
                }
                Err(e) => self.emit(Record::error(Some(id), line, e)),
            },
            Owner::Hole { chain } => {
                let c = &mut self.chains[chain];
                match result {
                    Ok(done) => {
                        let t = done.timings;
                        c.prompt_tokens += t.prompt_tokens as u64;
                        c.generated_tokens += t.generated_tokens as u64;
                        c.ms += t.prompt_ms + t.generate_ms;
                        c.filling.fill(&done.text);
                    }
                    Err(e) => {
                        c.errors.push(e);
                        c.filling.skip();
                    }
                }
                self.next_hole(chain);
            }
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
                let owner = Owner::Task {
                    id: id.clone(),
                    line,
                };
                let started =
                    self.start_flight(owner, &id, text, offset, (language, path.as_deref()));
                match started {
                    Ok(()) => return self.ready.pop_front(),
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
                self.next_hole(self.chains.len() - 1);
                return self.ready.pop_front();
            }
        }
        None
    }

    /// Starts the chain's next hole (its requests go to `ready`), or emits the chain's
    /// record when none is left.
    fn next_hole(&mut self, chain: usize) {
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
                return;
            };
            let (id, language, path) = (c.id.clone(), c.language, c.path.clone());
            let owner = Owner::Hole { chain };
            match self.start_flight(owner, &id, view, cursor, (language, Some(&path))) {
                Ok(()) => return,
                Err(e) => {
                    let c = &mut self.chains[chain];
                    c.errors.push(e);
                    c.filling.skip();
                }
            }
        }
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
        match running {
            Running::Flight { flight, i } => self.flight_answer(flight, i, result),
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
        }
    }

    fn finished(&self) -> bool {
        self.tasks.is_empty() && self.ready.is_empty() && self.running.is_empty()
    }
}
