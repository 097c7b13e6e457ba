//! Passes over per-node flags (`&[bool]`, one per node id) that read eight flags at a time: a
//! publication flags one node of many, and a pass flag by flag over 10,000 of them took a
//! measurable share of it.

/// The flags as bytes, split into words of eight and the rest.
fn words(flags: &[bool]) -> (&[[u8; 8]], &[u8]) {
    let bytes: &[u8] = bytemuck::cast_slice(flags);
    bytes.as_chunks::<8>()
}

/// The indexes of the `true` flags, ascending.
pub(crate) fn flagged(flags: &[bool]) -> impl Iterator<Item = usize> + '_ {
    let (words, tail) = words(flags);
    let tail_at = words.len() * 8;
    (words.iter().enumerate())
        .filter(|(_, w)| u64::from_ne_bytes(**w) != 0)
        .flat_map(|(i, w)| {
            (w.iter().enumerate())
                .filter(|(_, &b)| b != 0)
                .map(move |(j, _)| i * 8 + j)
        })
        .chain(
            (tail.iter().enumerate())
                .filter(|(_, &b)| b != 0)
                .map(move |(j, _)| tail_at + j),
        )
}

/// How many flags are `true`, and the index of the first of them.
pub(crate) fn count_and_first(flags: &[bool]) -> (usize, Option<usize>) {
    let (words, tail) = words(flags);
    let (mut count, mut first) = (0, None);
    for (i, w) in words.iter().enumerate() {
        let set = u64::from_ne_bytes(*w);
        if set != 0 {
            // Each `true` is a byte of 1: the word's ones count them.
            count += set.count_ones() as usize;
            first = first.or_else(|| w.iter().position(|&b| b != 0).map(|j| i * 8 + j));
        }
    }
    for (j, &b) in tail.iter().enumerate() {
        if b != 0 {
            count += 1;
            first = first.or(Some(words.len() * 8 + j));
        }
    }
    (count, first)
}

/// Whether any flag is `true`.
pub(crate) fn any_set(flags: &[bool]) -> bool {
    let (words, tail) = words(flags);
    words.iter().any(|w| u64::from_ne_bytes(*w) != 0) || tail.iter().any(|&b| b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The flags read word by word give the answers of a pass over each flag.
        #[test]
        fn word_passes_equal_flag_by_flag_ones(
            flags in proptest::collection::vec(any::<bool>(), 0..70),
        ) {
            let want: Vec<usize> = (0..flags.len()).filter(|&i| flags[i]).collect();
            prop_assert_eq!(flagged(&flags).collect::<Vec<_>>(), want.clone());
            prop_assert_eq!(any_set(&flags), flags.contains(&true));
            prop_assert_eq!(count_and_first(&flags), (want.len(), want.first().copied()));
        }
    }
}
