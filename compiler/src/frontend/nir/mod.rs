//! NIR frontend.
