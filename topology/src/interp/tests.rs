//! Tests of the animator: easing, fades, glides, pulses, reduced motion and pruning.

#![allow(clippy::float_cmp)] // Start and end values of tweens are exact; in-between ones are compared with `close`.

use super::*;

const RED: [f32; 3] = [1.0, 0.0, 0.0];
const GREEN: [f32; 3] = [0.0, 1.0, 0.0];

fn target(x: f32, color: [f32; 3], pulse: bool) -> Target {
    Target { position: [x, 0.0, 0.0], color, pulse }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn easing_starts_slow_and_ends_at_one() {
    let cases = [(0.0, 0.0), (0.25, 0.0625), (0.5, 0.5), (0.75, 0.9375), (1.0, 1.0), (2.0, 1.0), (-1.0, 0.0)];
    for (t, expected) in cases {
        assert!((ease_in_out_cubic(t) - expected).abs() < 1e-12, "{t}");
    }
}

#[test]
fn a_new_entity_fades_in_where_it_belongs() {
    let mut animator = Animator::new();
    animator.set_target("pod", target(4.0, GREEN, false), 10.0);
    let start = animator.visual(&"pod", 10.0).unwrap();
    assert_eq!((start.position, start.opacity, start.scale), ([4.0, 0.0, 0.0], 0.0, 1.0));
    assert!(close(animator.visual(&"pod", 10.0 + FADE_IN_SECS / 2.0).unwrap().opacity, 0.5));
    assert!(close(animator.visual(&"pod", 10.0 + FADE_IN_SECS).unwrap().opacity, 1.0));
    assert!(!animator.is_animating(10.0 + FADE_IN_SECS + 1e-6));
}

#[test]
fn a_move_glides_and_a_retarget_starts_from_where_it_is() {
    let mut animator = Animator::new();
    animator.set_target(1, target(0.0, GREEN, false), 0.0);
    animator.set_target(1, target(10.0, GREEN, false), 1.0);
    assert_eq!(animator.visual(&1, 1.0).unwrap().position[0], 0.0);
    assert!(close(animator.visual(&1, 1.0 + MOVE_SECS / 2.0).unwrap().position[0], 5.0));
    assert!(close(animator.visual(&1, 1.0 + MOVE_SECS / 4.0).unwrap().position[0], 0.625));
    animator.set_target(1, target(20.0, GREEN, false), 1.0 + MOVE_SECS / 2.0);
    assert!(close(animator.visual(&1, 1.0 + MOVE_SECS / 2.0).unwrap().position[0], 5.0));
    assert!(close(animator.visual(&1, 1.0 + 1.5 * MOVE_SECS).unwrap().position[0], 20.0));
}

#[test]
fn a_colour_change_cross_fades() {
    let mut animator = Animator::new();
    animator.set_target(1, target(0.0, GREEN, false), 0.0);
    animator.set_target(1, target(0.0, RED, false), 1.0);
    let mid = animator.visual(&1, 1.0 + COLOR_SECS / 2.0).unwrap().color;
    assert!(close(mid[0], 0.5) && close(mid[1], 0.5), "{mid:?}");
    assert_eq!(animator.visual(&1, 1.0 + COLOR_SECS + 1e-6).unwrap().color, RED);
}

#[test]
fn a_removed_entity_fades_out_and_is_reported_once_invisible() {
    let mut animator = Animator::new();
    animator.set_target("gone", target(0.0, GREEN, false), 0.0);
    animator.set_target("stays", target(1.0, GREEN, false), 0.0);
    animator.remove(&"gone", 1.0);
    assert!(close(animator.visual(&"gone", 1.0 + FADE_OUT_SECS / 2.0).unwrap().opacity, 0.5));
    assert!(animator.prune(1.0 + FADE_OUT_SECS / 2.0).is_empty());
    assert_eq!(animator.prune(1.0 + FADE_OUT_SECS + 1e-6), ["gone"]);
    assert_eq!(animator.len(), 1);
    assert_eq!(animator.sample(2.0).map(|(k, _)| *k).collect::<Vec<_>>(), ["stays"]);
}

#[test]
fn an_entity_coming_back_while_fading_out_fades_back_in() {
    let mut animator = Animator::new();
    animator.set_target(7, target(0.0, GREEN, false), 0.0);
    animator.remove(&7, 1.0);
    let half = 1.0 + FADE_OUT_SECS / 2.0;
    animator.set_target(7, target(0.0, GREEN, false), half);
    assert!(close(animator.visual(&7, half).unwrap().opacity, 0.5));
    assert!(close(animator.visual(&7, half + FADE_IN_SECS).unwrap().opacity, 1.0));
    assert!(animator.prune(10.0).is_empty());
}

#[test]
fn unhealthy_entities_pulse_between_one_and_the_amplitude() {
    let mut animator = Animator::new();
    animator.set_target(1, target(0.0, RED, true), 0.0);
    assert_eq!(animator.visual(&1, 0.0).unwrap().scale, 1.0);
    assert!(close(animator.visual(&1, PULSE_PERIOD_SECS / 2.0).unwrap().scale, 1.0 + PULSE_AMPLITUDE));
    assert!(animator.is_animating(100.0));
    animator.set_target(1, target(0.0, GREEN, false), 100.0);
    assert_eq!(animator.visual(&1, 100.3).unwrap().scale, 1.0);
}

#[test]
fn reduced_motion_jumps_to_targets_and_never_pulses() {
    let mut animator = Animator::new();
    animator.set_reduced_motion(true);
    animator.set_target(1, target(0.0, GREEN, true), 0.0);
    assert_eq!(
        animator.visual(&1, 0.0),
        Some(Visual { position: [0.0, 0.0, 0.0], color: GREEN, opacity: 1.0, scale: 1.0 })
    );
    animator.set_target(1, target(9.0, RED, true), 1.0);
    assert_eq!(animator.visual(&1, 1.0).unwrap().position[0], 9.0);
    assert_eq!(animator.visual(&1, 1.3).unwrap().scale, 1.0);
    assert!(!animator.is_animating(1.0));
    animator.remove(&1, 2.0);
    assert_eq!(animator.prune(2.0), [1]);
    assert!(animator.is_empty());
}

#[test]
fn only_what_glides_fades_or_pulses_is_moving() {
    let mut animator = Animator::new();
    animator.set_target(1, target(0.0, GREEN, false), 0.0);
    animator.set_target(2, target(0.0, RED, true), 0.0);
    assert!(animator.is_moving(&1, 0.0), "fading in");
    let later = 10.0;
    assert!(!animator.is_moving(&1, later), "arrived and healthy");
    assert!(animator.is_moving(&2, later), "pulses for as long as it is unhealthy");
    assert!(!animator.is_moving(&3, later), "unknown");
    animator.set_target(1, target(5.0, GREEN, false), later);
    assert!(animator.is_moving(&1, later + 0.1), "gliding");
    assert!(!animator.is_moving(&1, later + 10.0));
    animator.remove(&1, 30.0);
    assert!(animator.is_moving(&1, 30.0), "fading out");
    animator.set_reduced_motion(true);
    assert!(!animator.is_moving(&2, 40.0), "no pulse with reduced motion");
    // `is_animating` is whether any is moving.
    assert_eq!(animator.is_animating(40.0), [1, 2].iter().any(|k| animator.is_moving(k, 40.0)));
}
