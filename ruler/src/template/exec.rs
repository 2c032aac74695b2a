//! Execution: evaluating pipelines and calling functions.

use super::gofmt::{self, humanize, humanize1024, humanize_duration, humanize_percentage, sprintf};
use super::{Arg, Node, Pipeline, TemplateData, Value, MAX_OUTPUT_BYTES};

fn truthy(v: &Value) -> bool {
    match v {
        Value::Str(s) => !s.is_empty(),
        Value::Num(n) => *n != 0.0,
        Value::Int(n) => *n != 0,
        Value::Bool(b) => *b,
        Value::Map(m) => !m.is_empty(),
    }
}

fn too_long() -> String {
    format!("template output is longer than {MAX_OUTPUT_BYTES} bytes")
}

/// Appends `text`, failing once the output would pass [`MAX_OUTPUT_BYTES`].
fn write(out: &mut String, text: &str) -> Result<(), String> {
    if out.len().saturating_add(text.len()) > MAX_OUTPUT_BYTES {
        return Err(too_long());
    }
    out.push_str(text);
    Ok(())
}

/// Runs `nodes`; recursion follows the `{{if}}` nesting, which parsing
/// bounds.
pub(super) fn run(nodes: &[Node], data: &TemplateData, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => write(out, t)?,
            Node::Action(p) => write(out, &eval_pipeline(p, data)?.to_string())?,
            Node::If(branches, otherwise) => {
                let mut taken = false;
                for (cond, body) in branches {
                    if truthy(&eval_pipeline(cond, data)?) {
                        run(body, data, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    run(otherwise, data, out)?;
                }
            }
        }
    }
    Ok(())
}

fn field(v: Value, names: &[String]) -> Result<Value, String> {
    let mut v = v;
    for n in names {
        v = match v {
            Value::Map(m) => Value::Str(m.get(n).cloned().unwrap_or_default()),
            other => {
                return Err(format!(
                    "can't evaluate field {n} in type {}",
                    other.go_type()
                ))
            }
        };
    }
    Ok(v)
}

fn root(data: &TemplateData, name: &str) -> Result<Value, String> {
    Ok(match name {
        "Labels" => Value::Map(data.labels.clone()),
        "ExternalLabels" => Value::Map(data.external_labels.clone()),
        "ExternalURL" => Value::Str(data.external_url.clone()),
        "Value" => Value::Num(data.value),
        other => return Err(format!("can't evaluate field {other}")),
    })
}

fn eval_arg(a: &Arg, data: &TemplateData) -> Result<Value, String> {
    match a {
        Arg::Str(s) => Ok(Value::Str(s.clone())),
        Arg::Num(n) => Ok(Value::Num(*n)),
        Arg::Int(n) => Ok(Value::Int(*n)),
        Arg::Bool(b) => Ok(Value::Bool(*b)),
        Arg::Pipe(p) => eval_pipeline(p, data),
        Arg::Var(name, fields) => {
            let v = match name.as_str() {
                "$labels" => Value::Map(data.labels.clone()),
                "$externalLabels" => Value::Map(data.external_labels.clone()),
                "$externalURL" => Value::Str(data.external_url.clone()),
                "$value" => Value::Num(data.value),
                _ => match fields.split_first() {
                    Some((first, rest)) => return field(root(data, first)?, rest),
                    None => return Err("can't print the root data".into()),
                },
            };
            field(v, fields)
        }
        Arg::Field(fields) => match fields.split_first() {
            Some((first, rest)) => field(root(data, first)?, rest),
            None => Err("can't print the root data".into()),
        },
        Arg::Func(f) => call(f, &[]),
    }
}

fn eval_pipeline(p: &Pipeline, data: &TemplateData) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        let Some((first, rest)) = cmd.split_first() else {
            return Err("empty command".into());
        };
        let value = match first {
            Arg::Func(f) => {
                let mut args = rest
                    .iter()
                    .map(|a| eval_arg(a, data))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped.take());
                call(f, &args)?
            }
            other => {
                if !rest.is_empty() || piped.is_some() {
                    return Err("can't give argument to non-function".into());
                }
                eval_arg(other, data)?
            }
        };
        piped = Some(value);
    }
    piped.ok_or_else(|| "missing value for command".to_string())
}

fn one<'v>(name: &str, args: &'v [Value]) -> Result<&'v Value, String> {
    match args {
        [v] => Ok(v),
        _ => Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            args.len()
        )),
    }
}

/// Go's `eq` for two basic values.
fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x == y),
        (Value::Num(x), Value::Num(y)) => Ok(x == y),
        (Value::Int(x), Value::Int(y)) => Ok(x == y),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Map(_), _) | (_, Value::Map(_)) => Err("invalid type for comparison".into()),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's `lt` for two basic values.
fn less(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        (Value::Num(x), Value::Num(y)) => Ok(x < y),
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Str(_), Value::Num(_) | Value::Int(_))
        | (Value::Num(_) | Value::Int(_), Value::Str(_))
        | (Value::Num(_), Value::Int(_))
        | (Value::Int(_), Value::Num(_)) => Err("incompatible types for comparison".into()),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn compare(name: &str, args: &[Value]) -> Result<Value, String> {
    let wrap = |e: String| format!("error calling {name}: {e}");
    let two = |args: &[Value]| match args {
        [a, b] => Ok((a.clone(), b.clone())),
        _ => Err(format!(
            "wrong number of args for {name}: want 2 got {}",
            args.len()
        )),
    };
    let b = match name {
        "eq" => {
            let Some((first, rest)) = args.split_first().filter(|(_, r)| !r.is_empty()) else {
                return Err(wrap("missing argument for comparison".into()));
            };
            let mut any = false;
            for r in rest {
                any |= equal(first, r).map_err(wrap)?;
            }
            any
        }
        "ne" => {
            let (a, b) = two(args)?;
            !equal(&a, &b).map_err(wrap)?
        }
        "lt" => {
            let (a, b) = two(args)?;
            less(&a, &b).map_err(wrap)?
        }
        "le" => {
            let (a, b) = two(args)?;
            less(&a, &b).map_err(wrap)? || equal(&a, &b).map_err(wrap)?
        }
        "gt" => {
            let (a, b) = two(args)?;
            !less(&a, &b).map_err(wrap)? && !equal(&a, &b).map_err(wrap)?
        }
        _ => {
            let (a, b) = two(args)?;
            !less(&a, &b).map_err(wrap)?
        }
    };
    Ok(Value::Bool(b))
}

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    match name {
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => return compare(name, args),
        "and" => {
            return args
                .iter()
                .find(|a| !truthy(a))
                .or(args.last())
                .cloned()
                .ok_or_else(|| "wrong number of args for and: want at least 1 got 0".into())
        }
        "or" => {
            return args
                .iter()
                .find(|a| truthy(a))
                .or(args.last())
                .cloned()
                .ok_or_else(|| "wrong number of args for or: want at least 1 got 0".into())
        }
        "not" => return Ok(Value::Bool(!truthy(one(name, args)?))),
        "len" => {
            return match one(name, args)? {
                Value::Str(s) => Ok(Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX))),
                Value::Map(m) => Ok(Value::Int(i64::try_from(m.len()).unwrap_or(i64::MAX))),
                other => Err(format!(
                    "error calling len: len of type {}",
                    other.go_type()
                )),
            }
        }
        _ => {}
    }
    let float = |args: &[Value]| -> Result<f64, String> {
        gofmt::to_float(one(name, args)?).map_err(|e| format!("error calling {name}: {e}"))
    };
    Ok(Value::Str(match name {
        "humanize" => humanize(float(args)?),
        "humanize1024" => humanize1024(float(args)?),
        "humanizeDuration" => humanize_duration(float(args)?),
        "humanizeTimestamp" => gofmt::humanize_timestamp(float(args)?)
            .map_err(|e| format!("error calling {name}: {e}"))?,
        "humanizePercentage" => humanize_percentage(float(args)?),
        "toUpper" => one(name, args)?.to_string().to_uppercase(),
        "toLower" => one(name, args)?.to_string().to_lowercase(),
        "title" => title(&one(name, args)?.to_string()),
        "print" => args.iter().map(Value::to_string).collect(),
        "printf" => match args.split_first() {
            Some((Value::Str(f), rest)) => sprintf(f, rest),
            _ => return Err("wrong number of args for printf: want at least 1 got 0".into()),
        },
        "index" => match args {
            [Value::Map(m), Value::Str(k)] => m.get(k).cloned().unwrap_or_default(),
            _ => return Err("error calling index: can't index item".into()),
        },
        other => return Err(format!("function {other:?} not defined")),
    }))
}
