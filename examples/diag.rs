use bbcodec::*;
#[path = "../tests/common/mod.rs"]
mod common;
fn main() {
    let data = common::mixture_data(300, 64, 4, 7);
    let mut o = common::options(4096, 1<<20, Some(8));
    if std::env::var("EXACT").is_ok() { o.fit.posterior = PosteriorKind::Exact; }
    let (file, r) = compress(&data, &o).unwrap();
    let (rep, blocks) = decode_stream(&file[..], std::io::sink(), &DecodeOptions { threads: 1, keep_blocks: true }, |_| {}).unwrap();
    println!("net {} elbo {} sd {}", r.net_bits, r.neg_elbo_bits, r.net_stderr_bits);
    let mut by_pos = vec![(0.0, 0.0, 0usize); 10];
    let mut gap_sum = 0.0;
    for b in &blocks {
        if b.bootstrap { continue; }
        let g = b.net_bits + b.terms.elbo_joint_entropy();
        gap_sum += g;
        let p = (b.block).min(9);
        by_pos[p].0 += g; by_pos[p].1 += b.terms.ell_variance; by_pos[p].2 += 1;
    }
    println!("gap {gap_sum} {}", rep.net_bits - rep.neg_elbo_bits);
    for b in &blocks { println!("{} boot={} z={} net={} nelbo={:.1} H={:.3} kl={:.3} var={:.2}", b.block, b.bootstrap, b.latent, b.net_bits, -b.terms.elbo_joint_entropy(), b.terms.entropy, b.terms.kl_posterior, b.terms.ell_variance); }
    for (i, (g, v, n)) in by_pos.iter().enumerate() { println!("pos {i}: gap {g:.2} var {v:.2} n {n}"); }
}
