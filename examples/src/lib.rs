//! Runnable examples (see examples/examples/).
