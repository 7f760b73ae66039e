//! A pipeline is a chain of pull-based stages: each stage asks its upstream
//! for the next event only when its own consumer asks. Nothing is
//! materialized, so a 100,000-mailbox `Get-Mailbox` streams in constant
//! memory.

use super::render::{database_object, mailbox_object, DatabaseView, MailboxView, RenderCtx};
use crate::backend::{PipelineEvent, PipelineRun, SimErrorRecord};
use idconn_psrp::clixml::Value;
use std::collections::VecDeque;

/// What flows between stages: directory objects stay typed (so a
/// `Set-Mailbox` downstream knows which mailbox it got, and `Select-Object`
/// renders only the properties it needs); other objects are values.
#[derive(Debug, Clone)]
pub enum Item {
    Mailbox(MailboxView),
    Database(DatabaseView),
    Object(Value),
}

#[derive(Debug, Clone)]
pub enum Ev {
    Item(Item),
    Error(SimErrorRecord),
    Warning(String),
    Failed(SimErrorRecord),
}

pub trait Stage: Send {
    fn next(&mut self) -> Option<Ev>;
}

pub type Upstream = Option<Box<dyn Stage>>;

/// A stage that yields a fixed list of events (errors found before any
/// work, or the results of a one-shot command).
pub struct Fixed(pub VecDeque<Ev>);

impl Stage for Fixed {
    fn next(&mut self) -> Option<Ev> {
        self.0.pop_front()
    }
}

/// Runs `action` once without input (no upstream), or once per input item;
/// upstream errors and warnings pass through in order.
pub struct PerInput<F> {
    upstream: Upstream,
    started: bool,
    queue: VecDeque<Ev>,
    action: F,
}

impl<F> PerInput<F>
where
    F: FnMut(Option<Item>) -> Vec<Ev> + Send,
{
    pub fn new(upstream: Upstream, action: F) -> Self {
        PerInput {
            upstream,
            started: false,
            queue: VecDeque::new(),
            action,
        }
    }
}

impl<F> Stage for PerInput<F>
where
    F: FnMut(Option<Item>) -> Vec<Ev> + Send,
{
    fn next(&mut self) -> Option<Ev> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(ev);
            }
            match self.upstream.as_mut() {
                None => {
                    if self.started {
                        return None;
                    }
                    self.started = true;
                    self.queue.extend((self.action)(None));
                }
                Some(up) => match up.next()? {
                    Ev::Item(item) => self.queue.extend((self.action)(Some(item))),
                    other => return Some(other),
                },
            }
        }
    }
}

/// The end of the chain: renders items to CLIXML values for the protocol
/// layer and stops after a terminating error.
pub struct Run {
    pub stage: Box<dyn Stage>,
    pub ctx: RenderCtx,
    pub finished: bool,
}

impl PipelineRun for Run {
    fn next_event(&mut self) -> Option<PipelineEvent> {
        if self.finished {
            return None;
        }
        let Some(ev) = self.stage.next() else {
            self.finished = true;
            return None;
        };
        Some(match ev {
            Ev::Item(Item::Object(value)) => PipelineEvent::Output(value),
            Ev::Item(item) => PipelineEvent::Output(render(&item, &self.ctx)),
            Ev::Error(e) => PipelineEvent::Error(e),
            Ev::Warning(w) => PipelineEvent::Warning(w),
            Ev::Failed(e) => {
                self.finished = true;
                PipelineEvent::Failed(e)
            }
        })
    }
}

pub fn render(item: &Item, ctx: &RenderCtx) -> Value {
    match item {
        Item::Mailbox(view) => mailbox_object(view, ctx),
        Item::Database(view) => database_object(view, ctx),
        Item::Object(value) => value.clone(),
    }
}
