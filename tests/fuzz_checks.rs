//! The fuzz targets' checks (`fuzz/src`, see `fuzz/README.md`) run in the ordinary test suite: on
//! every input of the committed corpus (`fuzz/corpus/<target>/`) and on random byte strings from
//! proptest, so they hold on the stable toolchain and in every CI run, between fuzzing campaigns.

#[path = "../fuzz/src/input.rs"]
mod input;
#[path = "../fuzz/src/membership.rs"]
mod membership;
#[path = "../fuzz/src/ops.rs"]
mod ops;
#[path = "../fuzz/src/profiles.rs"]
mod profiles;

use std::path::Path;

use proptest::prelude::*;

/// Every file of one target's corpus (the directory must exist and hold inputs).
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("a corpus entry").path()).expect("a corpus file"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

#[test]
fn ops_corpus_passes() {
    let inputs = corpus("ops");
    let published: usize = inputs.iter().map(|data| ops::run(data)).sum();
    // The corpus exercises the checks: most of its groups publish.
    assert!(
        published > inputs.len() * 4,
        "{published} publications from {} inputs",
        inputs.len()
    );
}

#[test]
fn profiles_corpus_passes() {
    for data in corpus("profiles") {
        profiles::run(&data);
    }
}

#[test]
fn membership_corpus_passes() {
    let inputs = corpus("membership");
    let built: usize = inputs.iter().map(|data| membership::run(data)).sum();
    // The corpus holds valid files: some of its inputs build a ring.
    assert!(
        built >= 4,
        "{built} rings built from {} inputs",
        inputs.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ops_random_inputs(data in prop::collection::vec(any::<u8>(), 0..600)) {
        ops::run(&data);
    }

    #[test]
    fn profiles_random_inputs(data in prop::collection::vec(any::<u8>(), 0..300)) {
        profiles::run(&data);
    }

    #[test]
    fn membership_random_inputs(data in prop::collection::vec(any::<u8>(), 0..300)) {
        membership::run(&data);
    }

    /// Random documents of the membership's shape (random bytes rarely decode).
    #[test]
    fn membership_random_documents(
        doc in r#"\{("placement": "(native|maglev|hash_ring|continuum|uhashring|nginx|libmemcached)", )?("virtual_nodes": [0-9]{1,2}, )?"nodes": \[("[a-d]{0,2}", |\{"name": "[a-d]{0,2}", "weight": [0-9]{1,2}(, "port": [0-9]{1,5})?\}, )*"z"\]\}"#
    ) {
        membership::run(doc.as_bytes());
    }
}
