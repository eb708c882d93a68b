//! Sizes from users that cannot fit in memory are typed errors before anything is allocated,
//! never an aborted process.

use super::common;

use elbo::Error;
use elbo::conjugate::{GaussianMean, LinearRegression};
use elbo::guide::FullRankGaussianGuide;
use elbo::vae::{Vae, VaeArchitecture, VaeTraining};

fn too_large<T>(result: elbo::Result<T>) -> String {
    match result {
        Err(e @ Error::TooLarge { .. }) => e.to_string(),
        Err(other) => panic!("expected TooLarge, got {other}"),
        Ok(_) => panic!("expected TooLarge, got a value"),
    }
}

#[test]
fn sizes_beyond_memory_are_typed_errors() {
    let wide = VaeArchitecture {
        hidden: vec![2_000_000_000],
        ..VaeArchitecture::new(64, 8)
    };
    let text = too_large(Vae::<f32>::new(wide, VaeTraining::default(), 0));
    assert!(
        text.contains("parameters") && text.contains("smaller"),
        "{text}"
    );
    let overflow = VaeArchitecture {
        hidden: vec![usize::MAX / 2, usize::MAX / 2],
        ..VaeArchitecture::new(64, 8)
    };
    too_large(Vae::<f64>::new(overflow, VaeTraining::default(), 0));
    let huge_latent = VaeArchitecture::new(64, 100_000_000);
    too_large(Vae::<f32>::new(huge_latent, VaeTraining::default(), 0));

    let vae = Vae::<f32>::new(VaeArchitecture::new(6, 2), VaeTraining::default(), 0).unwrap();
    too_large(vae.check_evaluation_size(1_000_000_000_000, 6));
    let x = nalgebra::DMatrix::from_element(3, 6, 0.5f32);
    too_large(vae.iwae(&x, 1_000_000_000_000, &mut common::rng(0)));
    vae.check_evaluation_size(1000, 6).unwrap();

    let mut store = elbo::ParamStore::<f64>::new();
    too_large(FullRankGaussianGuide::new(&mut store, "q", 10_000_000, 0.1));
    assert!(store.is_empty(), "nothing registered before the refusal");
    let mut rng = common::rng(1);
    too_large(
        GaussianMean::new(1.0)
            .unwrap()
            .simulate(1 << 20, 1 << 40, &mut rng),
    );
    too_large(
        LinearRegression::new(1.0)
            .unwrap()
            .simulate(usize::MAX, 10, 0.5, &mut rng),
    );
}
