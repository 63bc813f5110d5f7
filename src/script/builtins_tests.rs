use super::*;

#[test]
fn now_is_utc_in_whole_seconds() {
    let now = now(&env_with(Arc::default()), vec![])
        .unwrap()
        .into_string()
        .unwrap();
    let shape = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    assert!(shape.is_match(&now), "{now}");
}

/// A stand-in for every builtin: it answers `ours`, so a call that reaches Rhai's package
/// function of the same name (`sleep(seconds)`, `parse_json`, `to_json(map)`, `log(x)`) shows.
fn ours(_: &BuiltinEnv, _: Vec<Dynamic>) -> Result<Dynamic, String> {
    Ok(Dynamic::from("ours"))
}

/// One literal of each type a builtin may be called with (numbers are zero: were Rhai's
/// `sleep(seconds)` reached, the test fails at once instead of sleeping).
const SAMPLES: &[&str] = &[
    "()",
    "true",
    "0",
    "0.0",
    "'c'",
    "\"text\"",
    "[1, 2]",
    "#{a: 1}",
    "blob(2)",
    "timestamp()",
    "Fn(\"f\")",
];

/// Every argument list of `arity` built from [`SAMPLES`].
fn argument_lists(arity: usize) -> Vec<Vec<&'static str>> {
    (0..arity).fold(vec![vec![]], |lists, _| {
        lists
            .iter()
            .flat_map(|l| {
                SAMPLES.iter().map(move |s| {
                    let mut l = l.clone();
                    l.push(*s);
                    l
                })
            })
            .collect()
    })
}

fn engine_with_stand_ins() -> Engine {
    let stand_ins: Vec<Builtin> = BUILTINS
        .iter()
        .map(|b| Builtin { run: ours, ..*b })
        .collect();
    let env = BuiltinEnv {
        sandbox: Arc::new(Sandbox::new(std::path::Path::new(".")).unwrap()),
        quiet: true,
        cancel: Arc::default(),
    };
    // The same engine as the runtime's: every standard package is loaded.
    let mut engine = Engine::new();
    register(&mut engine, &stand_ins, &env);
    engine
}

#[test]
fn a_direct_call_reaches_the_builtin_whatever_the_argument_types() {
    let engine = engine_with_stand_ins();
    let mut missed = Vec::new();
    for b in BUILTINS {
        for arity in b.required..=b.params.len() {
            for args in argument_lists(arity) {
                let mut forms = vec![format!("{}({})", b.name, args.join(", "))];
                // The method form `x.name(..)`, how `m.to_json()` reads.
                if let Some((first, rest)) = args.split_first() {
                    forms.push(format!(
                        "let x = {first}; x.{}({})",
                        b.name,
                        rest.join(", ")
                    ));
                }
                for script in forms {
                    let got = engine.eval::<Dynamic>(&script);
                    if !got.as_ref().is_ok_and(|v| v.to_string() == "ours") {
                        missed.push(format!("{script} -> {got:?}"));
                    }
                }
            }
        }
    }
    assert!(missed.is_empty(), "not the builtin:\n{}", missed.join("\n"));
}

#[test]
fn the_collisions_with_rhai_packages_are_the_known_ones() {
    let engine = Engine::new();
    let colliding: Vec<&str> = BUILTINS
        .iter()
        .filter(|b| {
            (b.required..=b.params.len()).any(|n| !collisions(&engine, b.name, n).is_empty())
        })
        .map(|b| b.name)
        .collect();
    // Not a requirement, a guard: a new collision after a Rhai upgrade shows up here.
    assert_eq!(colliding, ["parse_json", "to_json", "log", "sleep"]);
}

fn env_with(cancel: Arc<crate::runtime::Cancel>) -> BuiltinEnv {
    BuiltinEnv {
        sandbox: Arc::new(Sandbox::new(std::path::Path::new(".")).unwrap()),
        quiet: true,
        cancel,
    }
}

#[test]
fn sleep_takes_milliseconds_as_an_integer_or_a_float() {
    assert_eq!(
        sleep_duration(&Dynamic::from_int(300)),
        Ok(Duration::from_millis(300))
    );
    assert_eq!(
        sleep_duration(&Dynamic::from_float(2.5)),
        Ok(Duration::from_micros(2500))
    );
    assert_eq!(sleep_duration(&Dynamic::from_int(-5)), Ok(Duration::ZERO));
    assert_eq!(
        sleep_duration(&Dynamic::from("1")),
        Ok(Duration::from_millis(1))
    );
    assert_eq!(
        sleep_duration(&Dynamic::from("soon")),
        Err("argument `ms` must be a number of milliseconds, got string".into())
    );
}

#[test]
fn sleep_refuses_what_no_clock_can_wait() {
    let too_large = Err("argument `ms` is too large: at most 86400000 ms (one day)".into());
    assert_eq!(sleep_duration(&Dynamic::from_float(1e300)), too_large);
    assert_eq!(sleep_duration(&Dynamic::from_int(i64::MAX)), too_large);
    assert_eq!(sleep_duration(&Dynamic::from("1e300")), too_large);
    assert_eq!(
        sleep_duration(&Dynamic::from_float(f64::INFINITY)),
        Err("argument `ms` must be a finite number, got inf".into())
    );
    assert_eq!(
        sleep_duration(&Dynamic::from_float(f64::NAN)),
        Err("argument `ms` must be a finite number, got NaN".into())
    );
    assert_eq!(
        sleep_duration(&Dynamic::from_float(-1e300)),
        Ok(Duration::ZERO)
    );
    assert_eq!(
        sleep_duration(&Dynamic::from_int(86_400_000)),
        Ok(MAX_SLEEP)
    );
}

#[test]
fn a_cancelled_sleep_stops_at_once_with_the_cancellation_marker() {
    let cancel = Arc::new(crate::runtime::Cancel::default());
    cancel.cancel();
    let started = Instant::now();
    let got = sleep(&env_with(cancel), vec![Dynamic::from_int(60_000)]);
    assert_eq!(got.unwrap_err(), CANCELLED);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_sleep_in_a_cancelled_fan_out_scope_stops() {
    let scope = crate::cancel::CancelScope::default().child();
    let _entered = crate::cancel::enter(scope.clone());
    scope.cancel();
    let got = sleep(&env_with(Arc::default()), vec![Dynamic::from_int(60_000)]);
    assert_eq!(got.unwrap_err(), CANCELLED);
}

#[test]
fn the_cancellation_marker_terminates_the_script() {
    let err = to_rhai_error(CANCELLED.into());
    assert_eq!(
        crate::script::errors::termination(&err),
        Some(crate::script::errors::Termination::Cancelled)
    );
    let err = to_rhai_error("cannot read `a`".into());
    assert!(matches!(*err, EvalAltResult::ErrorRuntime(..)));
}

#[test]
fn parse_json_errors_say_json_and_where() {
    let env = env_with(Arc::default());
    let err = parse_json(&env, vec![Dynamic::from("{\"a\" 1}")]).unwrap_err();
    assert_eq!(
        err,
        "parse_json: invalid JSON at line 1 column 6: expected `:`"
    );
    let err = parse_json(&env, vec![Dynamic::from("")]).unwrap_err();
    assert_eq!(
        err,
        "parse_json: invalid JSON at line 1 column 0: EOF while parsing a value"
    );
}

#[test]
fn a_cancelled_builtin_is_a_cancelled_call() {
    assert!(matches!(
        call_error(CANCELLED.into()),
        crate::call::CallError::Cancelled
    ));
    assert!(matches!(
        call_error("boom".into()),
        crate::call::CallError::Script(m) if m == "boom"
    ));
}
