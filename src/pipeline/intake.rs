//! Where captured frames wait for a detector: one queue per stream, served round-robin to the
//! shared detector workers, so a fast camera cannot starve a slow one. Streams join and leave
//! while the workers run (the daemon's cameras come and go); a run of fixed streams seals the
//! intake once all have joined, and the workers end when the last stream has.
//!
//! A frame gets its dense sequence number when a worker takes it, not when it is captured: live
//! streams drop frames from their queue to stay current, and numbering after the drop means the
//! tracker's re-order buffer never waits for a frame that will not come.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::frame::Frame;

/// How long a blocked thread sleeps before it looks at the stop flag again.
const POLL: Duration = Duration::from_millis(50);

/// A stream's place in the intake, never reused while the intake lives.
pub type StreamId = u64;

struct Queue<R> {
    id: StreamId,
    /// Where the worker hands this stream's frames.
    route: R,
    frames: VecDeque<Frame>,
    capacity: usize,
    /// Live streams replace their oldest frame instead of waiting for room.
    live: bool,
    next_seq: u64,
    /// The capture stage may still push.
    open: bool,
    /// The stream's tracker still wants frames.
    wanted: bool,
    /// The end of a closed, drained stream has been handed to a worker.
    end_taken: bool,
    /// Frames taken by workers that the stream's tracker has not received yet.
    in_flight: usize,
    /// At this many in flight the stream gets no more until its tracker catches up: a camera
    /// whose outputs are slow (a lossless file on a slow disk) then waits alone, and never holds
    /// the workers that serve the other cameras.
    in_flight_limit: usize,
}

impl<R> Queue<R> {
    fn done(&self) -> bool {
        self.end_taken || !self.wanted
    }
}

/// The sizes of one stream's queue (see `budget::limits`).
#[derive(Clone, Copy, Debug)]
pub struct QueueSpec {
    /// Live streams replace their oldest frame instead of waiting for room.
    pub live: bool,
    pub capacity: usize,
    pub in_flight_limit: usize,
}

/// What a worker takes from the intake, with the stream's route.
pub enum Taken<R> {
    /// A frame with its dense sequence number.
    Frame(R, u64, Frame),
    /// The stream has ended: no frame will carry this sequence number or a later one. Passed on
    /// so the stream's tracker can finish (and its outputs close) while other streams go on.
    End(R, u64),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Queued, after dropping the oldest waiting frame.
    ReplacedOldest,
    /// Nobody wants frames from this stream any more: the capture should end.
    Closed,
}

struct State<R> {
    queues: Vec<Queue<R>>,
    /// Where the next round-robin look starts.
    cursor: usize,
    next_id: StreamId,
    /// No stream joins any more: once every queue is done, workers end.
    sealed: bool,
    /// The workers are gone (a detector failed): every push is refused.
    failed: bool,
}

pub struct Intake<R> {
    state: Mutex<State<R>>,
    work: Condvar,
    room: Condvar,
}

impl<R: Clone> Default for Intake<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Clone> Intake<R> {
    /// An intake with no stream yet.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queues: Vec::new(),
                cursor: 0,
                next_id: 0,
                sealed: false,
                failed: false,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new stream's queue; its frames go to the route made for its id.
    pub fn join(&self, spec: QueueSpec, route: impl FnOnce(StreamId) -> R) -> StreamId {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.queues.push(Queue {
            id,
            route: route(id),
            frames: VecDeque::with_capacity(spec.capacity),
            capacity: spec.capacity.max(1),
            live: spec.live,
            next_seq: 0,
            open: true,
            wanted: true,
            end_taken: false,
            in_flight: 0,
            in_flight_limit: spec.in_flight_limit.max(1),
        });
        self.work.notify_all();
        id
    }

    /// Forgets a stream whose threads have all ended (its route with it).
    pub fn leave(&self, id: StreamId) {
        let mut state = self.lock();
        state.queues.retain(|q| q.id != id);
        state.cursor = 0;
        self.work.notify_all();
    }

    /// No stream will join any more: workers end once every stream has.
    pub fn seal(&self) {
        self.lock().sealed = true;
        self.work.notify_all();
    }

    /// The workers are gone: captures are told to end, and nothing waits for room.
    pub fn fail(&self) {
        self.lock().failed = true;
        self.room.notify_all();
        self.work.notify_all();
    }

    /// Queues a frame of stream `id`; a file stream waits for room, a live one drops its oldest.
    pub fn push(&self, id: StreamId, frame: Frame, stop: &AtomicBool) -> Pushed {
        let mut guard = self.lock();
        loop {
            let failed = guard.failed;
            let Some(q) = guard.queues.iter_mut().find(|q| q.id == id) else {
                return Pushed::Closed;
            };
            if failed || !q.wanted || stop.load(Ordering::Relaxed) {
                return Pushed::Closed;
            }
            if q.frames.len() < q.capacity {
                q.frames.push_back(frame);
                self.work.notify_one();
                return Pushed::Queued;
            }
            if q.live {
                let mut frame = frame;
                if let Some(dropped) = q.frames.pop_front() {
                    // The camera's motion across the dropped frame goes to the frame after it.
                    let next = q.frames.front_mut().unwrap_or(&mut frame);
                    next.meta.camera = next.meta.camera.after(&dropped.meta.camera);
                }
                q.frames.push_back(frame);
                self.work.notify_one();
                return Pushed::ReplacedOldest;
            }
            guard = wait(&self.room, guard);
        }
    }

    fn with_queue(&self, id: StreamId, f: impl FnOnce(&mut Queue<R>)) {
        let mut guard = self.lock();
        if let Some(q) = guard.queues.iter_mut().find(|q| q.id == id) {
            f(q);
        }
    }

    /// Stream `id` will push no more (its source ended or failed).
    pub fn close(&self, id: StreamId) {
        self.with_queue(id, |q| q.open = false);
        self.work.notify_all();
    }

    /// Stream `id`'s consumer has gone: its waiting frames are discarded and its capture told.
    pub fn abandon(&self, id: StreamId) {
        self.with_queue(id, |q| {
            q.wanted = false;
            q.frames.clear();
        });
        self.room.notify_all();
    }

    /// The next frame for a worker, streams taken in turn, or the end of a stream that closed and
    /// drained. `None` once the intake is sealed and every stream has ended, after a failure, or
    /// after a stop when nothing is left waiting.
    pub fn take(&self, stop: &AtomicBool) -> Option<Taken<R>> {
        let mut guard = self.lock();
        loop {
            if guard.failed {
                return None;
            }
            if let Some(taken) = self.next_ready(&mut guard) {
                return Some(taken);
            }
            let all_done = guard.sealed && guard.queues.iter().all(Queue::done);
            if all_done || stop.load(Ordering::Relaxed) {
                return None;
            }
            guard = wait(&self.work, guard);
        }
    }

    /// Up to `max` frames for one run of the network: the next as [`take`](Self::take) gives
    /// it, then whatever else is ready, from any stream, waiting at most `wait` for more. Stops
    /// early at a stream's end (passed on with the frames). Empty when `take` would be `None`.
    pub fn take_batch(&self, stop: &AtomicBool, max: usize, wait: Duration) -> Vec<Taken<R>> {
        let Some(first) = self.take(stop) else {
            return Vec::new();
        };
        let mut taken = vec![first];
        if max <= 1 || matches!(taken[0], Taken::End(..)) {
            return taken;
        }
        let deadline = Instant::now() + wait;
        let mut guard = self.lock();
        while taken.len() < max {
            if let Some(next) = self.next_ready(&mut guard) {
                let end = matches!(next, Taken::End(..));
                taken.push(next);
                if end {
                    break;
                }
                continue;
            }
            let now = Instant::now();
            if now >= deadline || stop.load(Ordering::Relaxed) {
                break;
            }
            guard = self
                .work
                .wait_timeout(guard, (deadline - now).min(POLL))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        taken
    }

    /// A frame or an end ready now, streams taken in turn from the cursor.
    fn next_ready(&self, state: &mut State<R>) -> Option<Taken<R>> {
        let n = state.queues.len();
        for k in 0..n {
            let i = (state.cursor + k) % n;
            let q = &mut state.queues[i];
            if q.in_flight >= q.in_flight_limit {
                continue;
            }
            if let Some(frame) = q.frames.pop_front() {
                let seq = q.next_seq;
                q.next_seq += 1;
                q.in_flight += 1;
                let route = q.route.clone();
                state.cursor = (i + 1) % n;
                self.room.notify_all();
                return Some(Taken::Frame(route, seq, frame));
            }
            if !q.open && q.wanted && !q.end_taken {
                q.end_taken = true;
                return Some(Taken::End(q.route.clone(), q.next_seq));
            }
        }
        None
    }

    /// Stream `id`'s tracker has received one of its frames.
    pub fn delivered(&self, id: StreamId) {
        self.with_queue(id, |q| q.in_flight = q.in_flight.saturating_sub(1));
        self.work.notify_one();
    }

    /// Streams joined and not yet left.
    pub fn streams(&self) -> usize {
        self.lock().queues.len()
    }

    /// Frames waiting for a worker, all streams together.
    pub fn depth(&self) -> usize {
        self.lock().queues.iter().map(|q| q.frames.len()).sum()
    }
}

/// Waits on `condvar` for at most `POLL`, so the caller looks at the stop flag again.
fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, POLL)
        .unwrap_or_else(|p| p.into_inner())
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameMeta;
    use opencv::core::Mat;
    use std::time::Instant;

    fn spec(live: bool, capacity: usize, in_flight_limit: usize) -> QueueSpec {
        QueueSpec {
            live,
            capacity,
            in_flight_limit,
        }
    }

    /// A sealed intake of these streams, each routed to its own index (which is also its id).
    fn sealed(specs: &[QueueSpec]) -> Intake<usize> {
        let intake = Intake::new();
        for (i, spec) in specs.iter().enumerate() {
            assert_eq!(intake.join(*spec, |_| i), i as StreamId);
        }
        intake.seal();
        intake
    }

    fn frame(number: u64) -> Frame {
        Frame {
            meta: FrameMeta {
                seq: 0,
                number,
                pts_ms: number as f64,
                captured_at: Instant::now(),
                camera: crate::geom::Affine::IDENTITY,
                plan: Default::default(),
            },
            image: Mat::default(),
            slot: Default::default(),
        }
    }

    fn taken_frame(t: Option<Taken<usize>>) -> (u64, u64) {
        match t {
            Some(Taken::Frame(_, seq, f)) => (seq, f.meta.number),
            _ => panic!("expected a frame"),
        }
    }

    #[test]
    fn a_live_queue_keeps_the_newest_and_numbers_what_is_taken_densely() {
        let stop = AtomicBool::new(false);
        let intake = sealed(&[spec(true, 1, 8)]);
        assert_eq!(intake.push(0, frame(1), &stop), Pushed::Queued);
        assert_eq!(intake.push(0, frame(2), &stop), Pushed::ReplacedOldest);
        let (seq, number) = taken_frame(intake.take(&stop));
        assert_eq!((seq, number), (0, 2));
        intake.push(0, frame(5), &stop);
        let (seq, number) = taken_frame(intake.take(&stop));
        assert_eq!((seq, number), (1, 5), "no gap after a drop");
        intake.close(0);
        assert!(
            matches!(intake.take(&stop), Some(Taken::End(0, 2))),
            "the end, after seq 1"
        );
        assert!(intake.take(&stop).is_none());
    }

    #[test]
    fn streams_are_served_in_turn() {
        let stop = AtomicBool::new(false);
        let intake = sealed(&[spec(false, 8, 8), spec(false, 8, 8)]);
        for n in 0..4 {
            intake.push(0, frame(n), &stop);
        }
        intake.push(1, frame(100), &stop);
        let stream = |t: Option<Taken<usize>>| match t {
            Some(Taken::Frame(i, _, _)) => i,
            _ => panic!("expected a frame"),
        };
        let order: Vec<usize> = (0..3).map(|_| stream(intake.take(&stop))).collect();
        assert_eq!(
            order,
            vec![0, 1, 0],
            "the busy stream does not starve the other"
        );
    }

    #[test]
    fn a_batch_takes_what_is_ready_from_every_stream_within_its_limits() {
        let stop = AtomicBool::new(false);
        let intake = sealed(&[spec(false, 8, 3), spec(false, 8, 8)]);
        for n in 0..5 {
            intake.push(0, frame(n), &stop);
        }
        intake.push(1, frame(100), &stop);
        let streams = |batch: Vec<Taken<usize>>| -> Vec<usize> {
            batch
                .into_iter()
                .map(|t| match t {
                    Taken::Frame(i, _, _) => i,
                    Taken::End(..) => panic!("no end yet"),
                })
                .collect()
        };
        // Stream 0 may have 3 frames in flight: the batch takes those and stream 1's, then stops
        // at once rather than wait for more (nothing else can come within 0 ms).
        let started = Instant::now();
        let batch = intake.take_batch(&stop, 8, Duration::ZERO);
        assert_eq!(streams(batch), vec![0, 1, 0, 0]);
        // Nothing is ready now: the next batch waits its deadline for a second frame, not longer.
        intake.delivered(0);
        let started_wait = Instant::now();
        let batch = intake.take_batch(&stop, 4, Duration::from_millis(30));
        assert_eq!(streams(batch), vec![0]);
        assert!(started_wait.elapsed() >= Duration::from_millis(30));
        // Neither call waited for frames that cannot come (a minute: only a hang reaches it).
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn a_stream_whose_tracker_lags_waits_alone() {
        let stop = AtomicBool::new(false);
        let intake = sealed(&[spec(false, 8, 2), spec(false, 8, 2)]);
        for n in 0..4 {
            intake.push(0, frame(n), &stop);
        }
        let stream = |t: Option<Taken<usize>>| match t {
            Some(Taken::Frame(i, _, _)) => i,
            _ => panic!("expected a frame"),
        };
        assert_eq!(stream(intake.take(&stop)), 0);
        assert_eq!(stream(intake.take(&stop)), 0);
        // Stream 0 has two frames its tracker has not received: stream 1 is served meanwhile.
        intake.push(1, frame(100), &stop);
        assert_eq!(stream(intake.take(&stop)), 1);
        intake.delivered(0);
        assert_eq!(stream(intake.take(&stop)), 0);
    }

    #[test]
    fn an_abandoned_stream_closes_its_capture_and_a_stop_ends_waiting_workers() {
        let stop = AtomicBool::new(false);
        let intake = sealed(&[spec(false, 1, 8)]);
        intake.push(0, frame(1), &stop);
        intake.abandon(0);
        assert_eq!(intake.push(0, frame(2), &stop), Pushed::Closed);
        let intake = sealed(&[spec(true, 1, 8)]);
        stop.store(true, Ordering::Relaxed);
        assert!(intake.take(&stop).is_none());
    }

    #[test]
    fn an_open_intake_waits_for_streams_that_may_still_join_and_forgets_those_that_left() {
        let stop = AtomicBool::new(false);
        let intake: Intake<&str> = Intake::new();
        let spec = QueueSpec {
            live: true,
            capacity: 2,
            in_flight_limit: 2,
        };
        let a = intake.join(spec, |_| "a");
        intake.close(a);
        assert!(matches!(intake.take(&stop), Some(Taken::End("a", 0))));
        intake.leave(a);
        // Unsealed and empty: a worker would wait for the next camera. A stop ends the wait.
        stop.store(true, Ordering::Relaxed);
        assert!(intake.take(&stop).is_none());
        stop.store(false, Ordering::Relaxed);
        let b = intake.join(spec, |_| "b");
        assert_ne!(a, b, "ids are never reused");
        intake.close(b);
        assert!(matches!(intake.take(&stop), Some(Taken::End("b", 0))));
        intake.seal();
        assert!(intake.take(&stop).is_none(), "sealed and every stream done");
        // A stream that left takes nothing more, and its capture is told.
        assert_eq!(intake.push(a, frame(1), &stop), Pushed::Closed);
    }
}
