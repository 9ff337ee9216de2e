//! The mutation stream of the exposition tests: a xorshift generator and byte mutations
//! (flips, inserts, deletes, truncations, duplicated runs) biased to the bytes the grammar
//! cares about. One file, compiled into the unit tests (`tests::robustness`,
//! `tests::fast_line`) and included by `tests/exposition_differential.rs`, so both walk the
//! same inputs.

pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that matter to the grammar, so mutations reach deep states rather than only
/// breaking names.
const INTERESTING: &[u8] = b"{}\",=\\ \t\n#_:.-+e0123456789EOFHELPTYPEUNIT\xff\xc3\x80";

pub fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        let byte = if rng.below(4) == 0 {
            rng.next() as u8
        } else {
            INTERESTING[rng.below(INTERESTING.len())]
        };
        match rng.below(6) {
            0 | 1 if len > 0 => {
                let i = rng.below(len);
                input[i] = byte;
            }
            2 => input.insert(rng.below(len + 1), byte),
            3 if len > 0 => {
                input.remove(rng.below(len));
            }
            4 => input.truncate(rng.below(len + 1)),
            _ if len > 0 => {
                // Duplicate a short run, e.g. a label block or a line.
                let a = rng.below(len);
                let b = (a + rng.below(64)).min(len);
                let run = input[a..b].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, run);
            }
            _ => input.push(byte),
        }
    }
}
