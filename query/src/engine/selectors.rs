//! What a query reads: every selector with its time range, the function it
//! feeds and when it is evaluated, found before evaluation so all data is
//! fetched at once and each selector can be served at the right resolution.

use promql_parser::parser::{Expr, VectorSelector};
use stratus_model::TimeRange;

use crate::eval::{at_ms, offset_ms};
use crate::source::EvalGrid;

/// A selector the query reads, what it reads and what for.
pub(super) struct Wanted<'e> {
    pub(super) vs: &'e VectorSelector,
    /// The time range its evaluation reads.
    pub(super) range: TimeRange,
    /// The function whose range argument it is.
    pub(super) func: Option<&'static str>,
    /// Its range (`[5m]`), or the lookback delta of a plain selector.
    pub(super) range_ms: i64,
    /// When it is evaluated, where that is known in advance.
    pub(super) grid: Option<EvalGrid>,
}

/// Every selector with the time range its evaluation reads, given the
/// window `(start, end)` its enclosing expression is evaluated over at the
/// times of `grid` (`None` inside subqueries).
pub(super) fn collect_selectors<'e>(
    e: &'e Expr,
    (start, end): (i64, i64),
    grid: Option<EvalGrid>,
    (qs, qe): (i64, i64),
    lookback: i64,
    out: &mut Vec<Wanted<'e>>,
) {
    let window = |off: i64, at: Option<i64>, back: i64| match at {
        Some(a) => TimeRange::new(a - off - back, a - off),
        None => TimeRange::new(start - off - back, end - off),
    };
    let times = |off: i64, at: Option<i64>| match at {
        Some(a) => Some(EvalGrid {
            first_ms: a - off,
            step_ms: 0,
        }),
        None => grid.map(|g| EvalGrid {
            first_ms: g.first_ms - off,
            step_ms: g.step_ms,
        }),
    };
    let walk = |e: &'e Expr, out: &mut Vec<Wanted<'e>>| {
        collect_selectors(e, (start, end), grid, (qs, qe), lookback, out)
    };
    stratus_promql::stack_guard(|| match e {
        Expr::VectorSelector(vs) => {
            let (off, at) = (offset_ms(&vs.offset), at_ms(&vs.at, qs, qe));
            out.push(Wanted {
                vs,
                range: window(off, at, lookback),
                func: None,
                range_ms: lookback,
                grid: times(off, at),
            });
        }
        Expr::MatrixSelector(ms) => {
            let (off, at) = (offset_ms(&ms.vs.offset), at_ms(&ms.vs.at, qs, qe));
            let range_ms = ms.range.as_millis() as i64;
            out.push(Wanted {
                vs: &ms.vs,
                range: window(off, at, range_ms),
                func: None,
                range_ms,
                grid: times(off, at),
            });
        }
        Expr::Subquery(sq) => {
            let r = window(
                offset_ms(&sq.offset),
                at_ms(&sq.at, qs, qe),
                sq.range.as_millis() as i64,
            );
            collect_selectors(&sq.expr, (r.min, r.max), None, (qs, qe), lookback, out);
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, out);
            if let Some(p) = &a.param {
                walk(p, out);
            }
        }
        Expr::Unary(u) => walk(&u.expr, out),
        Expr::Binary(b) => {
            walk(&b.lhs, out);
            walk(&b.rhs, out);
        }
        Expr::Paren(p) => walk(&p.expr, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                let before = out.len();
                walk(a, out);
                // A range argument tells the source what its data is for.
                if matches!(a.as_ref(), Expr::MatrixSelector(_)) && out.len() == before + 1 {
                    out[before].func = Some(c.func.name);
                }
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    })
}
