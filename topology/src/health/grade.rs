//! The cluster's health as one number and one letter, for the header of the map and for kiosk screens.
//!
//! **Percentage.** Every entity whose level is known counts once, weighted Healthy = 1, Degraded = ½,
//! Unhealthy = 0; Unknown entities (config/secret references, services whose endpoints are not reported, pods on
//! a lost node) are left out of both numerator and denominator, because "we cannot tell" is neither good nor bad:
//!
//! ```text
//! percent = 100 × (healthy + ½ × degraded) / (healthy + degraded + unhealthy)
//! ```
//!
//! Every kind counts the same. A crash-looping pod therefore costs more than one point: its replicaset, its
//! deployment and its service are degraded too, which is how an operator experiences it.
//!
//! **Grade.** US school scale, calibrated so that a cluster with a couple of failing pods out of a few dozen
//! healthy objects (98.3 %) still reads A+, while a quarter of the cluster in trouble is a C:
//!
//! | grade | percent ≥ | grade | percent ≥ | grade | percent ≥ |
//! |---|---|---|---|---|---|
//! | A+ | 97 | B+ | 87 | C+ | 77 |
//! | A  | 93 | B  | 83 | C  | 73 |
//! | A- | 90 | B- | 80 | C- | 70 |
//! | D+ | 67 | D  | 63 | D- | 60 |
//! | F  | below 60 | | | | |
//!
//! With nothing known there is no score ([`score`] returns `None`) rather than a misleading 100 %.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::HealthLevel;

/// A letter grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// ≥ 97 %.
    APlus,
    /// ≥ 93 %.
    A,
    /// ≥ 90 %.
    AMinus,
    /// ≥ 87 %.
    BPlus,
    /// ≥ 83 %.
    B,
    /// ≥ 80 %.
    BMinus,
    /// ≥ 77 %.
    CPlus,
    /// ≥ 73 %.
    C,
    /// ≥ 70 %.
    CMinus,
    /// ≥ 67 %.
    DPlus,
    /// ≥ 63 %.
    D,
    /// ≥ 60 %.
    DMinus,
    /// Below 60 %.
    F,
}

/// Lower bounds of each grade but F, best first.
const THRESHOLDS: [(f64, Grade); 12] = [
    (97.0, Grade::APlus),
    (93.0, Grade::A),
    (90.0, Grade::AMinus),
    (87.0, Grade::BPlus),
    (83.0, Grade::B),
    (80.0, Grade::BMinus),
    (77.0, Grade::CPlus),
    (73.0, Grade::C),
    (70.0, Grade::CMinus),
    (67.0, Grade::DPlus),
    (63.0, Grade::D),
    (60.0, Grade::DMinus),
];

impl Grade {
    /// The grade of a percentage (see the table in the module docs).
    pub fn from_percent(percent: f64) -> Grade {
        THRESHOLDS.iter().find(|(min, _)| percent >= *min).map_or(Grade::F, |(_, grade)| *grade)
    }

    /// The grade as printed (`"A+"`, `"B-"`, `"F"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::APlus => "A+",
            Grade::A => "A",
            Grade::AMinus => "A-",
            Grade::BPlus => "B+",
            Grade::B => "B",
            Grade::BMinus => "B-",
            Grade::CPlus => "C+",
            Grade::C => "C",
            Grade::CMinus => "C-",
            Grade::DPlus => "D+",
            Grade::D => "D",
            Grade::DMinus => "D-",
            Grade::F => "F",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per level, the weighted percentage and its grade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Healthy entities.
    pub healthy: usize,
    /// Degraded entities.
    pub degraded: usize,
    /// Unhealthy entities.
    pub unhealthy: usize,
    /// Entities of unknown health (not counted in the percentage).
    pub unknown: usize,
    /// The weighted percentage, `0..=100`.
    pub percent: f64,
    /// The letter grade of `percent`.
    pub grade: Grade,
}

/// The score of a set of health levels; `None` when no level is known.
pub fn score(levels: impl IntoIterator<Item = HealthLevel>) -> Option<Score> {
    let mut counts = [0_usize; 4];
    for level in levels {
        counts[level as usize] += 1;
    }
    let [healthy, degraded, unhealthy, unknown] = counts;
    let counted = healthy + degraded + unhealthy;
    if counted == 0 {
        return None;
    }
    // Half points in integers, one division: exact at the grade boundaries.
    let percent = (100 * (2 * healthy + degraded)) as f64 / (2 * counted) as f64;
    Some(Score { healthy, degraded, unhealthy, unknown, percent, grade: Grade::from_percent(percent) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(healthy: usize, degraded: usize, unhealthy: usize, unknown: usize) -> Vec<HealthLevel> {
        [
            (HealthLevel::Healthy, healthy),
            (HealthLevel::Degraded, degraded),
            (HealthLevel::Unhealthy, unhealthy),
            (HealthLevel::Unknown, unknown),
        ]
        .into_iter()
        .flat_map(|(level, n)| std::iter::repeat_n(level, n))
        .collect()
    }

    #[test]
    fn a_cluster_98_3_percent_healthy_grades_a_plus() {
        let s = score(levels(58, 0, 1, 4)).unwrap();
        assert_eq!(format!("{:.1}", s.percent), "98.3");
        assert_eq!(s.grade, Grade::APlus);
        assert_eq!(s.unknown, 4);
    }

    #[test]
    fn degraded_counts_half_and_unknown_not_at_all() {
        let s = score(levels(6, 2, 2, 100)).unwrap();
        assert_eq!(s.percent.to_string(), "70");
        assert_eq!(s.grade, Grade::CMinus);
    }

    #[test]
    fn grade_boundaries_are_inclusive() {
        let cases = [
            (100.0, "A+"),
            (97.0, "A+"),
            (96.99, "A"),
            (93.0, "A"),
            (90.0, "A-"),
            (89.9, "B+"),
            (83.0, "B"),
            (80.0, "B-"),
            (77.0, "C+"),
            (73.0, "C"),
            (70.0, "C-"),
            (67.0, "D+"),
            (63.0, "D"),
            (60.0, "D-"),
            (59.99, "F"),
            (0.0, "F"),
        ];
        for (percent, grade) in cases {
            assert_eq!(Grade::from_percent(percent).as_str(), grade, "{percent}");
        }
    }

    #[test]
    fn nothing_known_has_no_score() {
        assert_eq!(score(levels(0, 0, 0, 3)), None);
        assert_eq!(score(Vec::new()), None);
    }
}
