//! The orbit camera: a point looked at, a direction around it and a distance. Input (drag, wheel, pinch, keys)
//! changes these three, never the eye position directly, so the view can never roll, flip over the pole or end up
//! inside the map, and the whole state fits in a URL (`cam=tx,ty,tz,yaw,pitch,distance`).

use std::f32::consts::FRAC_PI_2;

/// Closest and farthest the eye may be from the target, in world units.
const DISTANCE: (f32, f32) = (2.0, 900.0);
/// Pitch stays short of straight up/down, where "up" would be undefined.
const PITCH_LIMIT: f32 = FRAC_PI_2 - 0.05;

/// Where the camera looks from and at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orbit {
    /// The point looked at.
    pub target: [f32; 3],
    /// Rotation about the vertical axis, radians (0 = looking along −Z).
    pub yaw: f32,
    /// Elevation of the eye above the target's horizontal plane, radians.
    pub pitch: f32,
    /// Distance of the eye from the target.
    pub distance: f32,
}

impl Orbit {
    /// The orbit whose eye is at `eye`, looking at `target`.
    pub fn looking(eye: [f32; 3], target: [f32; 3]) -> Self {
        let d = [eye[0] - target[0], eye[1] - target[1], eye[2] - target[2]];
        let distance = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt().max(DISTANCE.0);
        let pitch = (d[1] / distance).clamp(-1.0, 1.0).asin();
        let yaw = d[0].atan2(d[2]);
        Self { target, yaw, pitch, distance }.clamped()
    }

    /// The eye position.
    pub fn eye(&self) -> [f32; 3] {
        let horizontal = self.distance * self.pitch.cos();
        [
            self.target[0] + horizontal * self.yaw.sin(),
            self.target[1] + self.distance * self.pitch.sin(),
            self.target[2] + horizontal * self.yaw.cos(),
        ]
    }

    /// Turns around the target by `dyaw`, `dpitch` radians.
    #[must_use]
    pub fn rotated(self, dyaw: f32, dpitch: f32) -> Self {
        Self { yaw: self.yaw + dyaw, pitch: self.pitch + dpitch, ..self }.clamped()
    }

    /// Moves target and eye together, `right` and `up` in screen directions, in units of the distance (so a drag
    /// moves the map by about the same fraction of the screen however far away the camera is).
    #[must_use]
    pub fn panned(self, right: f32, up: f32) -> Self {
        let (sin, cos) = self.yaw.sin_cos();
        let scale = self.distance;
        // Screen right is perpendicular to the view in the horizontal plane; screen up is world up here (the
        // pitch is shallow for this map, and moving along world Y keeps the layers level).
        let target = [
            self.target[0] + right * cos * scale,
            self.target[1] + up * scale,
            self.target[2] - right * sin * scale,
        ];
        Self { target, ..self }
    }

    /// Moves the eye towards (factor < 1) or away from (factor > 1) the target.
    #[must_use]
    pub fn zoomed(self, factor: f32) -> Self {
        Self { distance: self.distance * factor, ..self }.clamped()
    }

    /// The orbit `t` (0..=1) of the way from `self` to `to`, turning the short way round.
    #[must_use]
    pub fn lerp(self, to: Orbit, t: f32) -> Self {
        let t = t.clamp(0.0, 1.0);
        let mix = |a: f32, b: f32| a + (b - a) * t;
        let mut dyaw = (to.yaw - self.yaw) % std::f32::consts::TAU;
        if dyaw > std::f32::consts::PI {
            dyaw -= std::f32::consts::TAU;
        } else if dyaw < -std::f32::consts::PI {
            dyaw += std::f32::consts::TAU;
        }
        Self {
            target: [
                mix(self.target[0], to.target[0]),
                mix(self.target[1], to.target[1]),
                mix(self.target[2], to.target[2]),
            ],
            yaw: self.yaw + dyaw * t,
            pitch: mix(self.pitch, to.pitch),
            // Distance interpolates geometrically: a fly from far away slows down as it arrives.
            distance: self.distance * (to.distance / self.distance).powf(t),
        }
    }

    /// The same orbit, looking at `target` from `distance`.
    #[must_use]
    pub fn focused(self, target: [f32; 3], distance: f32) -> Self {
        Self { target, distance, ..self }.clamped()
    }

    fn clamped(self) -> Self {
        let yaw = if self.yaw.is_finite() { self.yaw % std::f32::consts::TAU } else { 0.0 };
        let pitch = if self.pitch.is_finite() { self.pitch.clamp(-PITCH_LIMIT, PITCH_LIMIT) } else { 0.2 };
        let distance = if self.distance.is_finite() {
            self.distance.clamp(DISTANCE.0, DISTANCE.1)
        } else {
            DISTANCE.1 / 10.0
        };
        let target = self.target.map(|v| if v.is_finite() { v } else { 0.0 });
        Self { target, yaw, pitch, distance }
    }
}

#[cfg(test)]
mod tests {
    use super::Orbit;

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3)
    }

    #[test]
    fn an_orbit_round_trips_through_its_eye() {
        let orbit = Orbit::looking([3.0, 8.0, 40.0], [1.0, -2.0, 0.0]);
        assert!(close(orbit.eye(), [3.0, 8.0, 40.0]), "{:?}", orbit.eye());
        assert!(close(orbit.target, [1.0, -2.0, 0.0]));
    }

    #[test]
    fn rotating_keeps_the_distance_and_never_passes_the_pole() {
        let orbit = Orbit::looking([0.0, 0.0, 10.0], [0.0; 3]);
        let turned = orbit.rotated(1.0, 10.0);
        assert!((turned.distance - 10.0).abs() < 1e-4);
        assert!(turned.pitch < std::f32::consts::FRAC_PI_2);
        let eye = turned.eye();
        let d = (eye[0] * eye[0] + eye[1] * eye[1] + eye[2] * eye[2]).sqrt();
        assert!((d - 10.0).abs() < 1e-3);
    }

    #[test]
    fn zoom_and_garbage_stay_in_bounds() {
        let orbit = Orbit::looking([0.0, 0.0, 10.0], [0.0; 3]);
        assert!(orbit.zoomed(1e-9).distance >= 2.0);
        assert!(orbit.zoomed(1e9).distance <= 900.0);
        let nan = Orbit { target: [f32::NAN; 3], yaw: f32::NAN, pitch: f32::INFINITY, distance: f32::NAN }
            .zoomed(1.0);
        assert!(nan.eye().iter().all(|v| v.is_finite()), "{nan:?}");
    }

    #[test]
    fn panning_moves_the_target_and_the_eye_together() {
        let orbit = Orbit::looking([0.0, 0.0, 10.0], [0.0; 3]);
        let moved = orbit.panned(0.1, 0.0);
        assert!(close(moved.target, [1.0, 0.0, 0.0]), "{:?}", moved.target);
        let before = orbit.eye();
        let after = moved.eye();
        assert!(close([after[0] - before[0], after[1] - before[1], after[2] - before[2]], [1.0, 0.0, 0.0]));
    }

    #[test]
    fn a_fly_starts_where_it_is_and_ends_where_it_goes_the_short_way_round() {
        let from = Orbit { target: [0.0; 3], yaw: 3.0, pitch: 0.1, distance: 100.0 };
        let to = Orbit { target: [10.0, 0.0, 0.0], yaw: -3.0, pitch: 0.3, distance: 10.0 };
        assert_eq!(from.lerp(to, 0.0), from);
        let end = from.lerp(to, 1.0);
        assert!(close(end.eye(), to.eye()), "{:?} vs {:?}", end.eye(), to.eye());
        // 3.0 → -3.0 is 0.28 rad through ±π, not 6 rad back through 0.
        assert!(from.lerp(to, 0.5).yaw > 3.0);
    }
}
