//! The README's code that runs as tests rather than doctests: the testing recipes are files of
//! this suite, and the README shows each verbatim (its other Rust blocks are doctests of
//! `passage-tests`).

const README: &str = include_str!("../../../README.md");

#[test]
fn the_readme_shows_the_testing_recipes_as_they_are_tested() {
    for (file, recipe) in [
        ("recipe_axum.rs", include_str!("recipe_axum.rs")),
        ("recipe_actix.rs", include_str!("recipe_actix.rs")),
    ] {
        let block = format!("```rust\n{recipe}```\n");
        assert!(
            README.contains(&block),
            "README.md must show tests/tests/it/{file} verbatim in a ```rust block"
        );
    }
}
