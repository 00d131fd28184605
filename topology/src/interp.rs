//! Interpolation: how the scene gets from one layout to the next without jumps.
//!
//! Why here and not in the scene: it is pure arithmetic on times and vectors, so it is unit-tested natively
//! and the wasm scene only feeds it the clock. Every entity has a [`Track`]; the scene calls
//! [`Animator::set_target`] when a diff moves, recolours or creates an entity, [`Animator::remove`] when it goes,
//! and [`Animator::sample`] every frame.
//!
//! | event | effect | duration |
//! |---|---|---|
//! | created | fades in (opacity 0 → 1) at its position | [`FADE_IN_SECS`] = 0.35 s |
//! | moved | glides (ease-in-out cubic) from wherever it is now | [`MOVE_SECS`] = 0.6 s |
//! | recoloured | cross-fades colour | [`COLOR_SECS`] = 0.25 s |
//! | removed | fades out, then is reported by [`Animator::prune`] so the scene drops it | [`FADE_OUT_SECS`] = 0.4 s |
//! | unhealthy | pulses in scale, ±[`PULSE_AMPLITUDE`] | period [`PULSE_PERIOD_SECS`] = 1.2 s |
//!
//! Retargeting mid-flight starts from the *current* sampled value, so interrupted animations never jump.
//! With [`Animator::set_reduced_motion`] everything snaps to its target and nothing pulses (for users who ask
//! their system for reduced motion). Memory is bounded by the live entities plus those still fading out:
//! finished fade-outs are dropped by [`Animator::prune`].

use std::collections::BTreeMap;

/// How long a new entity takes to fade in, seconds.
pub const FADE_IN_SECS: f64 = 0.35;
/// How long a move takes, seconds.
pub const MOVE_SECS: f64 = 0.6;
/// How long a colour change takes, seconds.
pub const COLOR_SECS: f64 = 0.25;
/// How long a removed entity takes to fade out, seconds.
pub const FADE_OUT_SECS: f64 = 0.4;
/// The period of the unhealthy pulse, seconds.
pub const PULSE_PERIOD_SECS: f64 = 1.2;
/// The pulse's relative scale amplitude.
pub const PULSE_AMPLITUDE: f32 = 0.15;

/// Where and how an entity should end up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Position from the layout.
    pub position: [f32; 3],
    /// Linear RGB colour.
    pub color: [f32; 3],
    /// Whether to pulse (unhealthy entities).
    pub pulse: bool,
}

/// How an entity looks at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Visual {
    /// Position.
    pub position: [f32; 3],
    /// Linear RGB colour.
    pub color: [f32; 3],
    /// Opacity, `0..=1`.
    pub opacity: f32,
    /// Scale factor around 1.
    pub scale: f32,
}

/// Cubic ease-in-out on `t` in `0..=1` (clamped).
pub fn ease_in_out_cubic(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    if t < 0.5 {
        4.0 * t * t * t
    } else {
        1.0 - (-2.0 * t + 2.0).powi(3) / 2.0
    }
}

/// A value going from `from` to `to` between `start` and `start + duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tween<const N: usize> {
    from: [f32; N],
    to: [f32; N],
    start: f64,
    duration: f64,
}

impl<const N: usize> Tween<N> {
    fn fixed(value: [f32; N]) -> Self {
        Tween { from: value, to: value, start: 0.0, duration: 0.0 }
    }

    fn progress(&self, now: f64) -> f64 {
        if self.duration <= 0.0 {
            1.0
        } else {
            ((now - self.start) / self.duration).clamp(0.0, 1.0)
        }
    }

    fn at(&self, now: f64, ease: fn(f64) -> f64) -> [f32; N] {
        let t = ease(self.progress(now)) as f32;
        std::array::from_fn(|i| self.from[i] + (self.to[i] - self.from[i]) * t)
    }

    fn retarget(&mut self, now: f64, to: [f32; N], duration: f64, ease: fn(f64) -> f64) {
        if to.map(f32::to_bits) != self.to.map(f32::to_bits) {
            *self = Tween { from: self.at(now, ease), to, start: now, duration };
        }
    }

    fn done(&self, now: f64) -> bool {
        self.progress(now) >= 1.0
    }
}

fn linear(t: f64) -> f64 {
    t
}

/// The animation state of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    position: Tween<3>,
    color: Tween<3>,
    opacity: Tween<1>,
    pulse_since: Option<f64>,
    leaving: bool,
}

impl Track {
    fn sample(&self, now: f64, reduced_motion: bool) -> Visual {
        let scale = match self.pulse_since {
            Some(since) if !reduced_motion => {
                let phase = ((now - since) / PULSE_PERIOD_SECS).fract();
                1.0 + PULSE_AMPLITUDE * (0.5 - 0.5 * (phase * std::f64::consts::TAU).cos()) as f32
            }
            _ => 1.0,
        };
        Visual {
            position: self.position.at(now, ease_in_out_cubic),
            color: self.color.at(now, linear),
            opacity: self.opacity.at(now, linear)[0],
            scale,
        }
    }

    fn is_moving(&self, now: f64, reduced_motion: bool) -> bool {
        (self.pulse_since.is_some() && !reduced_motion)
            || !self.position.done(now)
            || !self.color.done(now)
            || !self.opacity.done(now)
            || self.leaving
    }

    fn finished_leaving(&self, now: f64) -> bool {
        self.leaving && self.opacity.done(now)
    }
}

/// Animations of all entities, keyed by whatever the scene uses (entity ids or keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Animator<K: Ord> {
    tracks: BTreeMap<K, Track>,
    reduced_motion: bool,
}

impl<K: Ord> Default for Animator<K> {
    fn default() -> Self {
        Animator { tracks: BTreeMap::new(), reduced_motion: false }
    }
}

impl<K: Ord + Clone> Animator<K> {
    /// No tracks, full motion.
    pub fn new() -> Self {
        Animator::default()
    }

    /// Switches reduced motion on or off: when on, every change is immediate and nothing pulses.
    pub fn set_reduced_motion(&mut self, on: bool) {
        self.reduced_motion = on;
    }

    /// Whether reduced motion is on.
    pub fn reduced_motion(&self) -> bool {
        self.reduced_motion
    }

    fn duration(&self, secs: f64) -> f64 {
        if self.reduced_motion {
            0.0
        } else {
            secs
        }
    }

    /// Sets where an entity should go. A new entity fades in at its target; a known one glides there from where it
    /// is now; one that was fading out comes back.
    pub fn set_target(&mut self, key: K, target: Target, now: f64) {
        let (fade_in, moving, recolour) =
            (self.duration(FADE_IN_SECS), self.duration(MOVE_SECS), self.duration(COLOR_SECS));
        let track = self.tracks.entry(key).or_insert_with(|| Track {
            position: Tween::fixed(target.position),
            color: Tween::fixed(target.color),
            opacity: Tween { from: [0.0], to: [1.0], start: now, duration: fade_in },
            pulse_since: None,
            leaving: false,
        });
        track.position.retarget(now, target.position, moving, ease_in_out_cubic);
        track.color.retarget(now, target.color, recolour, linear);
        if track.leaving {
            track.leaving = false;
            track.opacity.retarget(now, [1.0], fade_in, linear);
        }
        match (target.pulse, track.pulse_since) {
            (true, None) => track.pulse_since = Some(now),
            (false, Some(_)) => track.pulse_since = None,
            _ => {}
        }
    }

    /// Starts fading an entity out; [`Animator::prune`] reports it once invisible. Unknown keys are ignored.
    pub fn remove(&mut self, key: &K, now: f64) {
        let fade_out = self.duration(FADE_OUT_SECS);
        if let Some(track) = self.tracks.get_mut(key) {
            if !track.leaving {
                track.leaving = true;
                track.opacity.retarget(now, [0.0], fade_out, linear);
            }
        }
    }

    /// How every entity looks at `now`, including those still fading out, in key order.
    pub fn sample(&self, now: f64) -> impl Iterator<Item = (&K, Visual)> {
        self.tracks.iter().map(move |(key, track)| (key, track.sample(now, self.reduced_motion)))
    }

    /// How one entity looks at `now`.
    pub fn visual(&self, key: &K, now: f64) -> Option<Visual> {
        self.tracks.get(key).map(|track| track.sample(now, self.reduced_motion))
    }

    /// Drops the entities whose fade-out has finished and returns their keys, so the scene can free them.
    pub fn prune(&mut self, now: f64) -> Vec<K> {
        let finished: Vec<K> =
            self.tracks.iter().filter(|(_, t)| t.finished_leaving(now)).map(|(k, _)| k.clone()).collect();
        for key in &finished {
            self.tracks.remove(key);
        }
        finished
    }

    /// Whether anything is still moving, fading or pulsing at `now` (the scene can stop redrawing when not).
    pub fn is_animating(&self, now: f64) -> bool {
        self.tracks.values().any(|t| t.is_moving(now, self.reduced_motion))
    }

    /// Whether one entity still moves, fades or pulses at `now`: while it does, its look changes from frame to
    /// frame; once it does not, it keeps its last look until its next target (unknown keys do not move).
    pub fn is_moving(&self, key: &K, now: f64) -> bool {
        self.tracks.get(key).is_some_and(|t| t.is_moving(now, self.reduced_motion))
    }

    /// The number of tracks (live and fading out).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether there is no track.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

#[cfg(test)]
mod tests;
