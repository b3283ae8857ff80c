//! The interface of a discrete-latent model to the bits-back chain: an exactly
//! invertible prior over a finite latent and a likelihood per position. Implement
//! [`DiscreteLatentModel`] to code your own symbol streams (alphabets up to 2^16
//! symbols) with bits-back; see the example on the trait.

use crate::categorical::QuantizedCategorical;

/// A latent-variable model with a finite latent `z in 0..num_latents()` over blocks of
/// `u16` symbols.
///
/// The joint of one block `x = (x_0, .., x_{n-1})` is
/// `P(z, x) = P(z) * prod_j P(x_j | z, j)`: the symbols are conditionally independent
/// given `z` and may depend on their position `j` inside the block.
///
/// Requirements (checked by the coder, which returns an error otherwise):
/// * `prior()` has `num_latents()` symbols;
/// * every `likelihood(z, j)` has `alphabet_size()` symbols;
/// * every symbol that occurs must have nonzero probability under **every** latent,
///   because the bits-back chain may pop any `z` that the posterior gives mass to.
///
/// # Example: coding a symbol stream with your own model
///
/// ```
/// use bbcodec::categorical::QuantizedCategorical;
/// use bbcodec::model::DiscreteLatentModel;
/// use bbcodec::{DiscreteBitsBackCoder, FitConfig, PosteriorKind};
///
/// /// Two regimes over a 1000-symbol alphabet: "low" symbols or "high" symbols.
/// struct TwoRegimes {
///     prior: QuantizedCategorical,
///     regimes: [QuantizedCategorical; 2],
/// }
///
/// impl DiscreteLatentModel for TwoRegimes {
///     fn num_latents(&self) -> usize { 2 }
///     fn alphabet_size(&self) -> usize { 1000 }
///     fn prior(&self) -> &QuantizedCategorical { &self.prior }
///     fn likelihood(&self, z: usize, _position: usize) -> &QuantizedCategorical {
///         &self.regimes[z]
///     }
/// }
///
/// let low: Vec<u64> = (0..1000).map(|s| if s < 100 { 1000 } else { 1 }).collect();
/// let high: Vec<u64> = (0..1000).map(|s| if s >= 900 { 1000 } else { 1 }).collect();
/// let model = TwoRegimes {
///     prior: QuantizedCategorical::uniform(2).unwrap(),
///     regimes: [
///         QuantizedCategorical::from_int_weights(&low).unwrap(),
///         QuantizedCategorical::from_int_weights(&high).unwrap(),
///     ],
/// };
///
/// // 40 blocks of 16 symbols, alternating regimes.
/// let symbols: Vec<u16> = (0..640u32)
///     .map(|i| if (i / 16) % 2 == 0 { (i * 7 % 100) as u16 } else { 900 + (i * 3 % 100) as u16 })
///     .collect();
/// let coder = DiscreteBitsBackCoder::new(&model, 16, FitConfig::default());
/// let encoded = coder.encode(&symbols, 0).unwrap();
/// let decoded = coder.decode(&encoded.words, symbols.len(), encoded.bootstrap_blocks, 0).unwrap();
/// assert_eq!(decoded.symbols, symbols);
/// // The measured rate is close to -ELBO of the fitted posteriors.
/// let r = &encoded.totals;
/// assert!((r.net_bits - r.neg_elbo_bits).abs() < 64.0);
/// # let _ = PosteriorKind::Exact;
/// ```
pub trait DiscreteLatentModel: Sync {
    /// Number of latent values `K >= 1`.
    fn num_latents(&self) -> usize;

    /// Number of symbols of the observed alphabet (at most 2^16).
    fn alphabet_size(&self) -> usize;

    /// The prior `P(z)` as a fixed-point distribution over `0..num_latents()`.
    fn prior(&self) -> &QuantizedCategorical;

    /// The likelihood `P(x_j | z)` of the symbol at `position` (0-based, inside the block).
    fn likelihood(&self, z: usize, position: usize) -> &QuantizedCategorical;

    /// Whether `likelihood(z, j)` is the same distribution for every position `j` (then
    /// the coder asks for it once per block). The default, `false`, is always correct.
    fn same_likelihood_at_every_position(&self) -> bool {
        false
    }

    /// `out[z] = log2 P(x | z)` for every latent `z` (the block's log-likelihoods).
    ///
    /// The default sums `likelihood(z, j).log2_prob(x_j)` in position order; override
    /// it with something faster (e.g. histograms) that gives the same values up to
    /// float rounding. Both encoder and decoder call it on the same block, so any
    /// deterministic implementation is safe.
    fn log2_likelihoods(&self, x: &[u16], out: &mut [f64]) {
        for (z, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for (j, &sym) in x.iter().enumerate() {
                s += self.likelihood(z, j).log2_prob(sym as usize);
            }
            *o = s;
        }
    }
}
