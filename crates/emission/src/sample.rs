//! The schedule sampled for a chart: what a block mints and the total minted, at evenly spaced
//! heights up to where the schedule has minted all but a thousandth of what it ever will.

use crate::Schedule;
use alx_types::{Amount, Height};
use serde::{Deserialize, Serialize};

/// One sampled height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulePoint {
    /// The height.
    pub height: Height,
    /// What the block at that height mints.
    pub per_block: Amount,
    /// The total minted through that height.
    pub minted: Amount,
}

/// Most points a sample holds.
pub const POINTS_MAX: usize = 256;

impl Schedule {
    /// The lowest height through which the schedule has minted at least 99.9% of its total
    /// (found by bisection over the closed form: at most 64 steps).
    #[must_use]
    pub fn horizon(&self) -> Height {
        let total = self.total().0;
        let target = total - total / 1_000;
        let (mut low, mut high) = (0u64, u64::MAX);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.minted_through(Height(mid)).0 >= target {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        Height(low)
    }

    /// `points` evenly spaced heights from 1 to [`Schedule::horizon`] (at least 2, at most
    /// [`POINTS_MAX`]), each with its block's amount and the total minted through it.
    #[must_use]
    pub fn sample(&self, points: usize) -> Vec<SchedulePoint> {
        let points = points.clamp(2, POINTS_MAX) as u64;
        let end = self.horizon().0.max(points);
        let mut out: Vec<SchedulePoint> = (0..points)
            .map(|i| {
                // 1 + i·(end − 1)/(points − 1), in u128 so the product cannot overflow.
                let step = u128::from(i) * u128::from(end - 1) / u128::from(points - 1);
                let height = Height(1 + u64::try_from(step).unwrap_or(u64::MAX - 1));
                let before = self.minted_through(Height(height.0 - 1));
                SchedulePoint {
                    height,
                    per_block: self.emission_at(height, before),
                    minted: self.minted_through(height),
                }
            })
            .collect();
        out.dedup_by_key(|p| p.height);
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{Curve, Schedule, ScheduleParams};
    use alx_types::{Amount, Height};

    fn halving() -> Schedule {
        Schedule::new(ScheduleParams {
            curve: Curve::Halving { initial_per_block: Amount(1_000), interval_blocks: 10 },
            cap: Amount(1_000_000),
        })
        .unwrap()
    }

    #[test]
    fn the_sample_spans_the_schedule_and_agrees_with_block_by_block_minting() {
        let s = halving();
        let horizon = s.horizon();
        let total = s.total().0;
        assert!(s.minted_through(horizon).0 >= total - total / 1_000);
        assert!(s.minted_through(Height(horizon.0 - 1)).0 < total - total / 1_000);
        let points = s.sample(64);
        assert_eq!(points.len(), 64);
        assert_eq!((points[0].height, points[63].height), (Height(1), horizon));
        assert!(points.windows(2).all(|w| w[0].height < w[1].height && w[0].minted <= w[1].minted));
        let mut minted = 0u128;
        for h in 1..=horizon.0 {
            minted += s.emission_at(Height(h), Amount(minted)).0;
            if let Some(p) = points.iter().find(|p| p.height.0 == h) {
                assert_eq!(p.minted.0, minted, "height {h}");
                let before = minted - p.per_block.0;
                assert_eq!(s.emission_at(Height(h), Amount(before)), p.per_block);
            }
        }
    }

    #[test]
    fn a_short_schedule_still_gives_distinct_heights() {
        let s = Schedule::new(ScheduleParams {
            curve: Curve::Halving { initial_per_block: Amount(10), interval_blocks: 1 },
            cap: Amount(1_000),
        })
        .unwrap();
        let points = s.sample(1_000);
        assert!(points.len() <= super::POINTS_MAX && points.len() >= 2);
        assert!(points.windows(2).all(|w| w[0].height < w[1].height));
    }
}
