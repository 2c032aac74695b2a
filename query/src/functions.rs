//! PromQL functions as pure functions over samples (owned by the functions
//! work; see the modules below).
