//! Bucket boundaries of the exponential schemas, and the few float functions whose exact
//! results Prometheus' histogram code depends on (`Ldexp`, `Frexp`, `Log2`, `Exp2` as Go's
//! `math` package computes them).
//!
//! A bucket boundary of schema `s` is `2^(i·2^-s)`. Prometheus does not compute it: it looks
//! the fraction up in a table of `2^(j/2^s)/2` for `0 ≤ j < 2^s` and scales it by a power of
//! two. Bucket boundaries appear in query results (`histogram_quantile`, the bucket bounds of
//! the query API), so redline uses the same table, bit for bit: [`SCHEMA8_FRACTIONS`] holds
//! schema 8's 256 fractions, and schema `s` (0..8) uses every `2^(8-s)`-th of them (each
//! schema's boundaries are a subset of the next finer schema's).

/// `2^(j/256)/2` for `j` in `0..256`, the values of Prometheus' `exponentialBounds[8]`
/// (model/histogram/generic.go; within a few ULPs of the exact values, which they are not
/// always: redline must agree with Prometheus' bucket boundaries, not with the exact ones).
#[rustfmt::skip]
pub(super) const SCHEMA8_FRACTIONS: [f64; 256] = [
    0.5, 0.5013556375251013, 0.5027149505564014, 0.5040779490592088,
    0.5054446430258502, 0.5068150424757447, 0.5081891574554764, 0.509566998038869,
    0.5109485743270583, 0.5123338964485679, 0.5137229745593818, 0.5151158188430205,
    0.5165124395106142, 0.5179128468009786, 0.5193170509806894, 0.520725062344158,
    0.5221368912137069, 0.5235525479396449, 0.5249720429003435, 0.526395386502313,
    0.5278225891802786, 0.5292536613972564, 0.5306886136446309, 0.5321274564422321,
    0.5335702003384117, 0.5350168559101208, 0.5364674337629877, 0.5379219445313954,
    0.5393803988785598, 0.5408428074966075, 0.5423091811066545, 0.5437795304588847,
    0.5452538663326288, 0.5467321995364429, 0.5482145409081883, 0.549700901315111,
    0.5511912916539204, 0.5526857228508706, 0.5541842058618393, 0.5556867516724088,
    0.5571933712979462, 0.5587040757836845, 0.5602188762048033, 0.5617377836665098,
    0.5632608093041209, 0.564787964283144, 0.5663192597993595, 0.5678547070789026,
    0.5693943173783458, 0.5709381019847808, 0.572486072215902, 0.5740382394200894,
    0.5755946149764913, 0.5771552102951081, 0.5787200368168754, 0.5802891060137493,
    0.5818624293887887, 0.5834400184762408, 0.585021884841625, 0.5866080400818185,
    0.5881984958251406, 0.5897932637314379, 0.5913923554921704, 0.5929957828304968,
    0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371903,
    0.6010783657263515, 0.6027080545025619, 0.6043421618132907, 0.6059806996384005,
    0.6076236799902344, 0.6092711149137041, 0.6109230164863786, 0.6125793968185725,
    0.6142402680534349, 0.6159056423670379, 0.6175755319684665, 0.6192499490999082,
    0.620928906036742, 0.622612415087629, 0.6243004885946023, 0.6259931389331581,
    0.6276903785123455, 0.6293922197748583, 0.6310986751971253, 0.6328097572894031,
    0.6345254785958666, 0.6362458516947014, 0.637970889198196, 0.6397006037528346,
    0.6414350080393891, 0.6431741147730128, 0.6449179367033329, 0.6466664866145447,
    0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673385,
    0.6554806057623822, 0.6572577939746774, 0.659039800633032, 0.6608266388015788,
    0.6626183215798706, 0.6644148621029772, 0.6662162735415805, 0.6680225691020727,
    0.6698337620266515, 0.6716498655934177, 0.6734708931164728, 0.6752968579460171,
    0.6771277734684463, 0.6789636531064505, 0.6808045103191123, 0.6826503586020058,
    0.6845012114872953, 0.6863570825438342, 0.688217985377265, 0.690083933630119,
    0.6919549409819159, 0.6938310211492645, 0.6957121878859629, 0.6975984549830999,
    0.6994898362691555, 0.7013863456101023, 0.7032879969095076, 0.7051948041086352,
    0.7071067811865475, 0.7090239421602076, 0.7109463010845827, 0.7128738720527471,
    0.7148066691959849, 0.7167447066838943, 0.718687998724491, 0.7206365595643126,
    0.7225904034885232, 0.7245495448210174, 0.7265139979245261, 0.7284837772007218,
    0.7304588970903234, 0.7324393720732029, 0.7344252166684908, 0.7364164454346837,
    0.7384130729697496, 0.7404151139112358, 0.7424225829363761, 0.7444354947621984,
    0.7464538641456323, 0.7484777058836176, 0.7505070348132126, 0.7525418658117031,
    0.7545822137967112, 0.7566280937263048, 0.7586795205991071, 0.7607365094544071,
    0.762799075372269, 0.7648672334736434, 0.7669409989204777, 0.7690203869158282,
    0.7711054127039704, 0.7731960915705107, 0.7752924388424999, 0.7773944698885442,
    0.7795022001189185, 0.7816156449856788, 0.7837348199827764, 0.7858597406461707,
    0.7879904225539431, 0.7901268813264122, 0.7922691326262467, 0.7944171921585818,
    0.7965710756711334, 0.7987307989543135, 0.8008963778413465, 0.8030678282083853,
    0.805245165974627, 0.8074284071024302, 0.8096175675974316, 0.8118126635086642,
    0.8140137109286738, 0.8162207259936375, 0.8184337248834821, 0.820652723822003,
    0.8228777390769823, 0.8251087869603088, 0.8273458838280969, 0.8295890460808079,
    0.8318382901633681, 0.8340936325652911, 0.8363550898207981, 0.8386226785089391,
    0.8408964152537144, 0.8431763167241966, 0.8454623996346523, 0.8477546807446661,
    0.8500531768592616, 0.8523579048290255, 0.8546688815502312, 0.8569861239649629,
    0.8593096490612387, 0.8616394738731368, 0.8639756154809185, 0.8663180910111553,
    0.8686669176368529, 0.871022112577578, 0.8733836930995842, 0.8757516765159389,
    0.8781260801866495, 0.8805069215187917, 0.8828942179666361, 0.8852879870317771,
    0.8876882462632604, 0.890095013257712, 0.8925083056594671, 0.8949281411607002,
    0.8973545375015533, 0.8997875124702672, 0.9022270839033115, 0.9046732696855155,
    0.9071260877501991, 0.909585556079304, 0.9120516927035263, 0.9145245157024483,
    0.9170040432046711, 0.9194902933879467, 0.9219832844793128, 0.9244830347552253,
    0.9269895625416926, 0.92950288621441, 0.9320230241988943, 0.9345499949706191,
    0.9370838170551498, 0.93962450902828, 0.9421720895161669, 0.9447265771954693,
    0.9472879907934827, 0.9498563490882775, 0.9524316709088368, 0.9550139751351947,
    0.9576032806985735, 0.9601996065815236, 0.9628029718180622, 0.9654133954938133,
    0.9680308967461471, 0.9706554947643201, 0.9732872087896164, 0.9759260581154889,
    0.9785720620876999, 0.9812252401044634, 0.9838856116165875, 0.9865531961276168,
    0.9892280131939752, 0.9919100824251095, 0.9945994234836328, 0.9972960560854698,
];

/// The upper boundary of bucket `index` of exponential schema `schema` (`-4..=8`), as
/// Prometheus' `getBoundExponential`: the last finite bucket ends at `f64::MAX` (not +Inf,
/// which the next bucket, the one of ±Inf observations, ends at).
pub fn exponential_bound(index: i32, schema: i32) -> f64 {
    let index = i64::from(index);
    if schema < 0 {
        let exp = index << (-schema).clamp(0, 4);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let schema = schema.clamp(0, 8);
    let frac_idx = (index & ((1 << schema) - 1)) as usize;
    let frac = SCHEMA8_FRACTIONS[frac_idx << (8 - schema)];
    let exp = (index >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// The upper boundary of bucket `index` in `schema`: for custom buckets the `index`th custom
/// value, -Inf below the first bucket (`index == -1`) and +Inf from the last one on (an
/// index outside the custom values, which only an invalid histogram has, is clamped rather
/// than panicking as Prometheus does).
pub fn bucket_bound(index: i32, schema: i32, custom_values: &[f64]) -> f64 {
    if schema != super::CUSTOM_BUCKETS_SCHEMA {
        return exponential_bound(index, schema);
    }
    if index < 0 {
        return f64::NEG_INFINITY;
    }
    match custom_values.get(index as usize) {
        Some(v) => *v,
        None => f64::INFINITY,
    }
}

/// Whether `schema` is one of the exponential schemas.
pub fn is_exponential_schema(schema: i32) -> bool {
    (super::EXPONENTIAL_SCHEMA_MIN..=super::EXPONENTIAL_SCHEMA_MAX).contains(&schema)
}

/// The bucket index in `target` schema (≤ `origin`) that bucket `index` of `origin` schema
/// falls into.
pub(super) fn target_index(index: i64, origin: i32, target: i32) -> i64 {
    let shift = (origin - target).clamp(0, 63);
    ((index - 1) >> shift) + 1
}

/// `x · 2^exp` with one rounding (Go's `math.Ldexp`).
pub(super) fn ldexp(x: f64, exp: i64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let (frac, e) = frexp(x);
    let exp = exp.saturating_add(i64::from(e)).clamp(-2000, 2000);
    // frac is in [0.5, 1): the result is frac·2^exp.
    if exp > 1024 {
        return f64::INFINITY.copysign(x);
    }
    if exp >= -1021 {
        return with_exponent(frac, exp);
    }
    // Subnormal: scale up into the normal range exactly, then down with a single rounding.
    // Below 2^-1075 everything rounds to zero.
    if exp < -1075 {
        return 0.0_f64.copysign(x);
    }
    with_exponent(frac, exp + 54) * f64::from_bits((1023 - 54) << 52)
}

/// `frac · 2^exp` for `frac` in `[0.5, 1)` and a normal result (`-1021 ≤ exp ≤ 1024`).
fn with_exponent(frac: f64, exp: i64) -> f64 {
    let biased = (exp + 1022) as u64;
    f64::from_bits((frac.to_bits() & !(0x7ff << 52)) | (biased << 52))
}

/// `x = frac · 2^exp` with `|frac|` in `[0.5, 1)` (Go's `math.Frexp`).
pub(super) fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (mut x, mut exp) = (x, 0);
    if x.abs() < f64::MIN_POSITIVE {
        x *= f64::from_bits((1023 + 52_u64) << 52);
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    (f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52)), exp)
}

/// Go's `math.Log2`: exact for powers of two, `ln(frac)·log2(e) + exp` otherwise, with
/// Go's `Log`.
pub(super) fn go_log2(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return x.ln();
    }
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    go_log(frac) * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Log` (the FreeBSD algorithm): `ln(x)` from `x = f1·2^k` with `f1` in
/// `[√2/2, √2)` and a polynomial in `s = f/(2+f)`, `f = f1 - 1`.
#[allow(clippy::excessive_precision)] // Go's constants, as written there.
fn go_log(x: f64) -> f64 {
    const LN2_HI: f64 = 6.93147180369123816490e-01;
    const LN2_LO: f64 = 1.90821492927058770002e-10;
    const L1: f64 = 6.666666666666735130e-01;
    const L2: f64 = 3.999999999940941908e-01;
    const L3: f64 = 2.857142874366239149e-01;
    const L4: f64 = 2.222219843214978396e-01;
    const L5: f64 = 1.818357216161805012e-01;
    const L6: f64 = 1.531383769920937332e-01;
    const L7: f64 = 1.479819860511658591e-01;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::SQRT_2 / 2.0 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = f64::from(ki);
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
    let t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// Go's `math.Exp2` (the FreeBSD algorithm Go uses): quantile interpolation on exponential
/// buckets returns its results, e.g. `2^-0.5` as 0.7071067811865475, one ULP below the
/// correctly rounded value that `f64::exp2` returns.
#[allow(clippy::excessive_precision)] // Go's constants, as written there.
pub(super) fn go_exp2(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const OVERFLOW: f64 = 1.023_999_999_999_999_9e3;
    const UNDERFLOW: f64 = -1.0740e3;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY || x < UNDERFLOW {
        return 0.0;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    // Argument reduction: x = k + t with |t| ≤ 1/2, then 2^t = e^(t·ln 2).
    let k = if x > 0.0 {
        (x + 0.5) as i64
    } else if x < 0.0 {
        (x - 0.5) as i64
    } else {
        0
    };
    let t = x - k as f64;
    let hi = t * LN2_HI;
    let lo = -t * LN2_LO;
    exp_multi(hi, lo, k)
}

/// `e^(hi-lo) · 2^k` (Go's `expmulti`), a rational approximation on the reduced argument.
#[allow(clippy::excessive_precision)]
fn exp_multi(hi: f64, lo: f64, k: i64) -> f64 {
    const P1: f64 = 1.666_666_666_666_666_574_15e-01;
    const P2: f64 = -2.777_777_777_701_559_338_42e-03;
    const P3: f64 = 6.613_756_321_437_934_361_17e-05;
    const P4: f64 = -1.653_390_220_546_525_153_90e-06;
    const P5: f64 = 4.138_136_797_057_238_460_39e-08;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    ldexp(y, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn schema8_fractions_are_two_to_the_j_over_256_halved() {
        for (j, f) in SCHEMA8_FRACTIONS.iter().enumerate() {
            let exact = (j as f64 / 256.0).exp2() / 2.0;
            assert!(ulps(*f, exact) <= 8, "entry {j}: {f} vs {exact}");
        }
        assert!(SCHEMA8_FRACTIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bounds_of_each_schema() {
        // Schema 0: powers of two; bucket 1 is (1,2], bucket 0 is (0.5,1].
        assert_eq!(exponential_bound(0, 0), 1.0);
        assert_eq!(exponential_bound(1, 0), 2.0);
        assert_eq!(exponential_bound(-1, 0), 0.5);
        // Schema -1: powers of four; schema -4: powers of 2^16.
        assert_eq!(exponential_bound(1, -1), 4.0);
        assert_eq!(exponential_bound(-2, -1), 1.0 / 16.0);
        assert_eq!(exponential_bound(1, -4), 65536.0);
        // Schema 1: the boundary inside (1,2] is √2 (Prometheus' table value).
        assert_eq!(exponential_bound(1, 1), 2.0 * 0.7071067811865475);
        assert_eq!(exponential_bound(2, 1), 2.0);
        // Schema 3, bucket 3 ends at 2^(3/8).
        assert!(ulps(exponential_bound(3, 3), 2f64.powf(3.0 / 8.0)) <= 4);
        // Negative indexes in positive schemas.
        assert!(ulps(exponential_bound(-3, 2), 2f64.powf(-0.75)) <= 4);
        // The last finite bucket ends at f64::MAX, the next at +Inf.
        assert_eq!(exponential_bound(1024, 0), f64::MAX);
        assert_eq!(exponential_bound(1025, 0), f64::INFINITY);
        assert_eq!(exponential_bound(256, -2), f64::MAX);
        assert_eq!(exponential_bound(1024 << 8, 8), f64::MAX);
        // Far below: subnormal, then zero.
        assert_eq!(exponential_bound(-1074, 0), 5e-324);
        assert_eq!(exponential_bound(-1080, 0), 0.0);
        assert_eq!(exponential_bound(i32::MIN, -4), 0.0);
        assert_eq!(exponential_bound(i32::MAX, -4), f64::INFINITY);
    }

    #[test]
    fn custom_bounds_clamp_outside_the_values() {
        let cv = [1.0, 5.0];
        assert_eq!(bucket_bound(-1, -53, &cv), f64::NEG_INFINITY);
        assert_eq!(bucket_bound(0, -53, &cv), 1.0);
        assert_eq!(bucket_bound(1, -53, &cv), 5.0);
        assert_eq!(bucket_bound(2, -53, &cv), f64::INFINITY);
        assert_eq!(bucket_bound(7, -53, &cv), f64::INFINITY);
        assert_eq!(bucket_bound(-9, -53, &cv), f64::NEG_INFINITY);
    }

    #[test]
    fn go_math_functions() {
        // 2^-0.5 as Go computes it, the value upstream's native_histograms.test expects for
        // histogram_quantile(0.4, …) in the middle of bucket (0.5,1].
        assert_eq!(go_exp2(-0.5), 0.7071067811865475);
        assert_eq!(go_exp2(3.0), 8.0);
        assert_eq!(go_exp2(-1074.0), 5e-324);
        assert_eq!(go_exp2(1024.0), f64::INFINITY);
        assert_eq!(go_log2(8.0), 3.0);
        assert_eq!(go_log2(0.25), -2.0);
        assert!((go_log2(3.0) - 3f64.log2()).abs() < 1e-15);
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(5e-324), (0.5, -1073));
        assert_eq!(ldexp(0.5, -1073), 5e-324);
        assert_eq!(ldexp(0.75, 2), 3.0);
        assert_eq!(ldexp(0.5, 1025), f64::INFINITY);
    }
}
