//! The command line's top level: parsing it, and the rewrite of `search`'s
//! and `produce`'s arguments that lets a query word start with `-`. The
//! commands and their arguments are declared beside their code, in `cmd`
//! (clap's derive: the first line of each doc comment is the short help,
//! the rest the long help).

use std::ffi::OsString;

use clap::{CommandFactory, Parser};

pub use crate::cmd::Cli;

/// Parses `args` (the program's name first), with `search`'s query words
/// moved after its options: see [`search_words_last`].
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Cli {
    Cli::parse_from(search_words_last(args.into_iter().collect()))
}

/// `args` with the query words of a `search` moved after its options and a
/// `--`, so that a word may start with `-` (`search refund -card`) and
/// options may still follow the words (`search refund --limit 5`).
///
/// clap alone cannot do both: a positional that accepts leading hyphens
/// swallows every option after it. Which arguments are options (and which
/// take a value) is read from clap's own definition of `search`, so this
/// stays in step with it. An unknown `--option` is left for clap to refuse;
/// anything after a `--` is a word.
pub fn search_words_last(args: Vec<OsString>) -> Vec<OsString> {
    // Building clap's definition costs a little: only for a search.
    const TAKE_QUERIES: [&str; 2] = ["search", "produce"];
    if !args.iter().any(|a| TAKE_QUERIES.iter().any(|c| a == *c)) {
        return args;
    }
    let cmd = Cli::command();
    // Where the command is: the first argument that is not a top-level option
    // (`--archive DIR`, `--archive=DIR`) or its value.
    let mut at = 1;
    while at < args.len() {
        let a = args[at].to_string_lossy();
        if a == "--archive" {
            at += 2;
        } else if a.starts_with('-') {
            at += 1;
        } else {
            break;
        }
    }
    let Some(name) = args
        .get(at)
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| TAKE_QUERIES.contains(&a.as_str()))
    else {
        return args;
    };
    // `produce verify BAG` takes no query.
    if name == "produce" && args.get(at + 1).is_some_and(|a| a == "verify") {
        return args;
    }
    let Some(search) = cmd.find_subcommand(&name) else {
        return args;
    };
    // How many values an option takes: none, one, or (`--conversation A
    // B`) every argument up to the next option.
    let takes_value = |long: &str| {
        search
            .get_arguments()
            .chain(cmd.get_arguments())
            .find(|a| a.get_long() == Some(long))
            .map(|a| {
                let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
                (a.get_action().takes_values(), many)
            })
    };
    let (mut options, mut words) = (Vec::new(), Vec::new());
    let mut rest = args[at + 1..].iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            words.extend(rest.by_ref().cloned());
        } else if let Some(long) = text.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            options.push(arg.clone());
            if let Some((true, many)) = takes_value(name)
                && !long.contains('=')
            {
                if let Some(value) = rest.next() {
                    options.push(value.clone());
                }
                while many
                    && let Some(value) = rest.clone().next()
                    && !value.to_string_lossy().starts_with('-')
                {
                    options.push(value.clone());
                    rest.next();
                }
            }
        } else if text == "-h" {
            options.push(arg.clone());
        } else {
            words.push(arg.clone());
        }
    }
    let mut out: Vec<OsString> = args[..=at].to_vec();
    out.extend(options);
    if !words.is_empty() {
        out.push("--".into());
        out.extend(words);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Command, search, search::Color};
    use crate::search::Sort;

    /// clap's own checks of the whole definition (conflicts, groups,
    /// requirements naming arguments that exist).
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn moved(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        search_words_last(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn search_words_go_after_the_options() {
        assert_eq!(
            moved(&[
                "convault", "search", "refund", "-card", "--limit", "5", "--json"
            ]),
            [
                "convault", "search", "--limit", "5", "--json", "--", "refund", "-card"
            ]
        );
        // Global options before the subcommand, `=` values, `--` in the middle.
        assert_eq!(
            moved(&[
                "c",
                "--archive",
                "a",
                "search",
                "--limit=5",
                "x",
                "--",
                "--json",
                "-y"
            ]),
            [
                "c",
                "--archive",
                "a",
                "search",
                "--limit=5",
                "--",
                "x",
                "--json",
                "-y"
            ]
        );
        assert_eq!(
            moved(&[
                "c",
                "--archive=a",
                "search",
                "x",
                "--archive",
                "b",
                "--show",
                "--context",
                "3"
            ]),
            [
                "c",
                "--archive=a",
                "search",
                "--archive",
                "b",
                "--show",
                "--context",
                "3",
                "--",
                "x"
            ]
        );
        // An unknown option stays an option (clap refuses it); another
        // command, or `search` as a word of it, is left alone.
        assert_eq!(
            moved(&["c", "search", "x", "--colour", "always"]),
            ["c", "search", "--colour", "--", "x", "always"]
        );
        for other in [&["c", "show", "-x"][..], &["c", "ingest", "search"], &["c"]] {
            assert_eq!(moved(other), other);
        }
    }

    #[test]
    fn every_search_option_parses_after_the_words() {
        let cli = parse_args(
            [
                "convault", "search", "refund", "-card", "--sort", "oldest", "--offset", "10",
                "--csv", "--color", "never",
            ]
            .map(OsString::from),
        );
        let Command::Search(search::Args {
            words,
            sort,
            offset,
            csv,
            color,
            ..
        }) = cli.command
        else {
            panic!("not search");
        };
        assert_eq!(words, ["refund", "-card"]);
        assert_eq!(
            (sort, offset, csv, color),
            (Sort::Oldest, 10, true, Color::Never)
        );
    }
}
