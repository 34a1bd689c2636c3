use super::*;

/// A fixed xorshift stream: the tests need varied values, not randomness.
struct Values(u64);

impl Values {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self) -> f32 {
        (self.next() % 20_001) as f32 / 10_000.0 - 1.0
    }
    /// A finite f16 scale's bits below 2 in magnitude (any sign, subnormals included): the
    /// exponent's top bit cleared.
    fn half(&mut self) -> u16 {
        self.next() as u16 & 0xbfff
    }
}

/// ggml bytes of a random `rows × cols` matrix in Q4_1 (`q4 = true`) or Q8_0, and its values.
fn ggml(v: &mut Values, rows: usize, cols: usize, q4: bool) -> (Vec<u8>, Vec<f32>) {
    let (mut bytes, mut values) = (Vec::new(), Vec::new());
    for _ in 0..rows * cols / BLOCK {
        let d = v.half();
        bytes.extend_from_slice(&d.to_le_bytes());
        let d = half_to_f32(d);
        if q4 {
            let min = v.half();
            bytes.extend_from_slice(&min.to_le_bytes());
            let q: [u8; 16] = std::array::from_fn(|_| v.next() as u8);
            bytes.extend_from_slice(&q);
            let min = half_to_f32(min);
            values.extend(q.map(|q| d * f32::from(q & 0x0f) + min));
            values.extend(q.map(|q| d * f32::from(q >> 4) + min));
        } else {
            // Every byte value, -128 included (the sign trick's edge).
            let q: [u8; 32] = std::array::from_fn(|_| v.next() as u8);
            bytes.extend_from_slice(&q);
            values.extend(q.map(|q| d * f32::from(q as i8)));
        }
    }
    (bytes, values)
}

fn matrix(v: &mut Values, rows: usize, cols: usize, q4: bool) -> (QuantMatrix, Vec<f32>) {
    let (bytes, values) = ggml(v, rows, cols, q4);
    let m = if q4 {
        QuantMatrix::from_q4_1(rows, cols, &bytes)
    } else {
        QuantMatrix::from_q8_0(rows, cols, &bytes)
    };
    (m.expect("a valid layout"), values)
}

#[test]
fn products_match_the_dequantized_weights() {
    let mut v = Values(0x9e37_79b9_7f4a_7c15);
    // Row counts off the group size, and several activation rows.
    for (rows, cols, m) in [(1, 32, 1), (7, 64, 1), (13, 96, 5), (8, 576, 9)] {
        for q4 in [true, false] {
            let (w, values) = matrix(&mut v, rows, cols, q4);
            let x: Vec<f32> = (0..m * cols).map(|_| v.f()).collect();
            let y = w.matmul(&x, m);
            assert_eq!(y.len(), m * rows);
            for i in 0..m {
                let xi = &x[i * cols..(i + 1) * cols];
                let step = xi.iter().fold(0f32, |a, b| a.max(b.abs())) / 32767.0;
                for r in 0..rows {
                    let wr = &values[r * cols..(r + 1) * cols];
                    let exact: f32 = wr.iter().zip(xi).map(|(a, b)| a * b).sum();
                    // Activation rounding: at most half a step per value.
                    let bound = wr.iter().map(|a| a.abs() * step * 0.5).sum::<f32>() * 1.001 + 1e-3;
                    let got = y[i * rows + r];
                    assert!(
                        (got - exact).abs() <= bound,
                        "{rows}x{cols} m={m} ({i},{r}): {got} vs {exact}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_row_gets_the_same_bits_alone_and_among_others() {
    #[cfg(target_arch = "x86_64")]
    {
        let Some(simd) = pulp::x86::V3::try_new() else {
            eprintln!("note: no AVX2+FMA here; nothing to compare");
            return;
        };
        let mut v = Values(7);
        for q4 in [true, false] {
            let (rows, cols, m) = (9, 192, 7);
            let (w, _) = matrix(&mut v, rows, cols, q4);
            let k = cols / BLOCK;
            let x: Vec<f32> = (0..m * cols).map(|_| v.f() * 3.0).collect();
            let xq: Vec<BlockQ16> = x.chunks_exact(BLOCK).map(quantize_q16).collect();
            let groups = rows.div_ceil(GROUP);
            let mut together = vec![0.0; groups * m * GROUP];
            avx2::run(simd, &w.blocks, k, &xq, m, 0..groups, &mut together);
            for i in 0..m {
                let mut alone = vec![0.0; groups * GROUP];
                avx2::run(simd, &w.blocks, k, &xq[i * k..(i + 1) * k], 1, 0..groups, &mut alone);
                for g in 0..groups {
                    let a = &alone[g * GROUP..][..GROUP];
                    let b = &together[(g * m + i) * GROUP..][..GROUP];
                    assert_eq!(
                        a.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                        b.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                        "row {i}, group {g}, q4 {q4}"
                    );
                }
            }
        }
    }
}

/// A weight matrix and `m` quantized activation rows for comparing kernels.
struct Case {
    w: QuantMatrix,
    xq: Vec<BlockQ16>,
    k: usize,
    groups: usize,
}

impl Case {
    fn new(v: &mut Values, rows: usize, cols: usize, m: usize, q4: bool) -> Self {
        let (w, _) = matrix(v, rows, cols, q4);
        let x: Vec<f32> = (0..m * cols).map(|_| v.f() * 3.0).collect();
        let xq = x.chunks_exact(BLOCK).map(quantize_q16).collect();
        Self { w, xq, k: cols / BLOCK, groups: rows.div_ceil(GROUP) }
    }
}

#[test]
fn simd_and_scalar_kernels_agree() {
    #[cfg(target_arch = "x86_64")]
    {
        let Some(simd) = pulp::x86::V3::try_new() else {
            eprintln!("note: no AVX2+FMA here; only the scalar kernels were checked");
            return;
        };
        let mut v = Values(42);
        for (rows, cols, m) in [(5, 64, 1), (9, 160, 6), (4, 576, 4)] {
            for q4 in [true, false] {
                let Case { w, xq, k, groups } = Case::new(&mut v, rows, cols, m, q4);
                let (mut a, mut b) = (vec![0.0; groups * m * GROUP], vec![0.0; groups * m * GROUP]);
                scalar::run(&w.blocks, k, &xq, m, 0..groups, &mut a);
                avx2::run(simd, &w.blocks, k, &xq, m, 0..groups, &mut b);
                for (p, q) in a.iter().zip(&b) {
                    // Same integer sums and scales; only the order of f32 additions differs.
                    assert!((p - q).abs() <= 1e-3 * (1.0 + p.abs()), "{p} vs {q}");
                }
            }
        }
    }
}

#[test]
fn activation_blocks_keep_sixteen_bits() {
    let mut x = [0.0f32; 32];
    x[0] = 327.67;
    x[1] = -163.84;
    x[2] = 0.004;
    x[3] = 0.006;
    let b = quantize_q16(&x);
    assert!((b.d - 0.01).abs() < 1e-7);
    // Rounded to the nearest step.
    assert_eq!(&b.q[..4], &[32767, -16384, 0, 1]);
    assert!((b.s - 0.01 * 16384.0).abs() < 1e-3);
    assert_eq!(quantize_q16(&[0.0; 32]), BlockQ16 { d: 0.0, s: 0.0, q: [0; 32] });
    let nan = quantize_q16(&[f32::NAN; 32]);
    assert!(nan.q.iter().all(|&q| q == 0), "NaN input quantizes to zeros, not a panic");
}

#[test]
fn halves_widen_exactly() {
    assert_eq!(half_to_f32(0x3c00), 1.0);
    assert_eq!(half_to_f32(0xc000), -2.0);
    assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
    assert_eq!(half_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
    assert_eq!(half_to_f32(0x7bff), 65504.0);
    assert_eq!(half_to_f32(0x8000).to_bits(), 0x8000_0000);
    assert!(half_to_f32(0x7c00).is_finite(), "no infinity from a hostile scale");
}

#[test]
fn bad_layouts_are_refused() {
    assert!(matches!(QuantMatrix::from_q4_1(2, 48, &[0; 60]), Err(LayoutError::Columns { .. })));
    assert!(matches!(QuantMatrix::from_q4_1(2, 64, &[0; 79]), Err(LayoutError::Length { .. })));
    assert!(matches!(QuantMatrix::from_q8_0(1, 32, &[0; 33]), Err(LayoutError::Length { .. })));
    let m = QuantMatrix::from_q8_0(1, 32, &[0; 34]).expect("one block");
    assert_eq!((m.rows(), m.cols()), (1, 32));
}

#[test]
fn quantization_rounds_half_away_from_zero_as_round_does() {
    let mut v = Values(3);
    let mut cases: Vec<f32> =
        vec![0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 32766.5, -32766.5, 32767.0];
    cases.extend((0..10_000).map(|_| v.f() * 32767.0));
    cases.extend((0..1_000).map(|i| i as f32 / 4.0 - 125.0));
    for x in cases {
        assert_eq!(super::round_half_away(x), x.round() as i16, "{x}");
    }
    assert_eq!(super::round_half_away(f32::NAN), 0);
}

#[test]
fn avx512_gives_the_avx2_bits() {
    #[cfg(target_arch = "x86_64")]
    {
        let (Some(v4), Some(v3)) = (pulp::x86::V4::try_new(), pulp::x86::V3::try_new()) else {
            eprintln!("note: no AVX-512 here; nothing to compare");
            return;
        };
        let mut v = Values(11);
        for (rows, cols, m) in [(5, 64, 1), (9, 160, 6), (4, 576, 4), (13, 96, 9)] {
            for q4 in [true, false] {
                let Case { w, xq, k, groups } = Case::new(&mut v, rows, cols, m, q4);
                let (mut a, mut b) = (vec![0.0; groups * m * GROUP], vec![0.0; groups * m * GROUP]);
                avx2::run(v3, &w.blocks, k, &xq, m, 0..groups, &mut a);
                avx512::run(v4, &w.blocks, k, &xq, m, 0..groups, &mut b);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "{rows}×{cols}, {m} rows, q4 {q4}");
            }
        }
    }
}
