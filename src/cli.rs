//! Command-line definitions (clap). Every flag is documented once, here or in the
//! `Args` struct of the module that owns the subcommand.
