//! `llm_do._llm_do`: the native half of the Python package `llm_do` (the Python half,
//! `python/llm_do/`, adds the `@project.fn` decorator, the exceptions and type stubs).
//!
//! Threading, decided once: llm-do works on one tokio runtime of the process (built by
//! `pyo3-async-runtimes`, with the CLI's blocking pool size). A blocking call (`call`,
//! `run_script`, `test`, `send`) releases the GIL while it waits and takes it back every
//! [`SIGNAL_POLL`] only to check for signals: Ctrl-C cancels the call tree and raises
//! `KeyboardInterrupt`. Python functions registered as fns run on the blocking pool and take
//! the GIL only while they run, so no call waits for the GIL while holding it, and Python tools
//! under `call_all` fan-out cannot deadlock against the caller.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_do::approval::{PromptAnswer, Prompter, Request};
use llm_do::cancel::CancelScope;
use llm_do::report::Error;
use llm_do::script::host::HostFn;
use llm_do::session::{OpenOptions, Session};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// How often a blocking call takes the GIL to check for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The tokio runtime llm-do works on (shared with `acall`'s futures).
fn tokio() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// An llm-do error as the `llm_do.Error` subclass its `--error-format json` fields select.
fn py_error(py: Python<'_>, e: &Error) -> PyErr {
    let fields = llm_do::report::error_json(e).to_string();
    let made = py
        .import("llm_do._errors")
        .and_then(|m| m.getattr("from_json"))
        .and_then(|f| f.call1((fields,)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Cancels its scope when dropped: an abandoned call (a cancelled asyncio task, Ctrl-C)
/// cancels its call tree.
struct CancelOnDrop(CancelScope);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Wait for `make(scope)` with the GIL released, checking for signals every [`SIGNAL_POLL`];
/// on Ctrl-C the call tree is cancelled and `KeyboardInterrupt` raised.
fn wait<T, F>(py: Python<'_>, make: impl FnOnce(CancelScope) -> F) -> PyResult<T>
where
    F: Future<Output = Result<T, Error>> + Send,
    T: Send,
{
    let scope = CancelScope::default().child();
    let guard = CancelOnDrop(scope.clone());
    let fut = make(scope);
    let out = py.detach(|| {
        let mut fut = std::pin::pin!(fut);
        loop {
            let step =
                tokio().block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut fut).await });
            if let Ok(out) = step {
                return Ok(out);
            }
            Python::attach(|py| py.check_signals())?;
        }
    });
    drop(guard);
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(py_error(py, &e)),
        Err(signal) => Err(signal),
    }
}

/// JSON as Python values (dict, list, str, int, float, bool, None).
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// Python values as JSON; anything else is a `TypeError`.
fn to_json(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.cast::<PyInt>().is_ok() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(v.extract::<u64>()?));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(serde_json::Number::from_f64(f.value()).map_or(Value::Null, Value::Number));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, x) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("dict keys must be strings to be JSON"))?;
            m.insert(key.to_cow()?.into_owned(), to_json(&x)?);
        }
        return Ok(Value::Object(m));
    }
    if let Ok(l) = v.cast::<PyList>() {
        return l
            .iter()
            .map(|x| to_json(&x))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        return t
            .iter()
            .map(|x| to_json(&x))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    Err(PyTypeError::new_err(format!(
        "{} is not JSON (pass dict, list, str, int, float, bool or None)",
        v.get_type().name()?
    )))
}

/// A Python value given as a call's input (`None`: no input).
fn input_of(input: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    input.map_or(Ok(Value::Null), to_json)
}

/// The text of a Python exception, `Type: message`.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let ty = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{ty}: {}", e.value(py))
}

/// Run the Python callable `f` with keyword arguments `args` (awaiting it when it returns a
/// coroutine) and return its value as JSON.
fn call_python(f: &Py<PyAny>, args: Value) -> Result<Value, String> {
    Python::attach(|py| {
        let run = || -> PyResult<Value> {
            let kwargs = to_py(py, &args)?;
            let kwargs = kwargs.cast::<PyDict>().ok();
            let mut out = f.bind(py).call((), kwargs)?;
            let inspect = py.import("inspect")?;
            if inspect.call_method1("iscoroutine", (&out,))?.is_truthy()? {
                out = py.import("asyncio")?.call_method1("run", (out,))?;
            }
            to_json(&out)
        };
        run().map_err(|e| describe(py, &e))
    })
}

/// A Python approval prompt: called with the request (`tool`, `args`, `chain`), it answers
/// `"approve"`/`True`, `"session"`, `"quit"`, or anything else to deny (a string other than
/// those is the reason the model is told).
/// Who approvals are asked of: the Python callable `@p.prompter` set (it may be set after the
/// project opened), else the terminal when there is one, else nobody (a denial saying how to
/// allow it).
struct PyPrompter {
    func: Mutex<Option<Arc<Py<PyAny>>>>,
    terminal: Option<llm_do::approval::TerminalPrompter>,
}

impl PyPrompter {
    fn new() -> Self {
        PyPrompter {
            func: Mutex::new(None),
            terminal: llm_do::approval::TerminalPrompter::detect(),
        }
    }

    fn set(&self, func: Py<PyAny>) {
        if let Ok(mut slot) = self.func.lock() {
            *slot = Some(Arc::new(func));
        }
    }
}

impl Prompter for PyPrompter {
    fn ask(&self, req: &Request) -> PromptAnswer {
        let func = self.func.lock().ok().and_then(|f| f.clone());
        let Some(func) = func else {
            return match &self.terminal {
                Some(terminal) => terminal.ask(req),
                None => PromptAnswer::Deny(Some(
                    "there is no terminal to ask and no `@p.prompter`: allow it with an \
                     [[approvals]] rule or set a prompter"
                        .to_owned(),
                )),
            };
        };
        let request = serde_json::json!({"tool": req.tool, "args": req.args, "chain": req.chain});
        Python::attach(|py| {
            let answer = to_py(py, &request).and_then(|r| func.bind(py).call1((r,)));
            match answer {
                Ok(a) if a.cast::<PyBool>().is_ok_and(|b| b.is_true()) => PromptAnswer::Once,
                Ok(a) => match a.extract::<String>().as_deref() {
                    Ok("approve") => PromptAnswer::Once,
                    Ok("session") => PromptAnswer::Session,
                    Ok("quit") => PromptAnswer::Quit,
                    Ok("reject") | Err(_) => PromptAnswer::Deny(None),
                    Ok(reason) => PromptAnswer::Deny(Some(reason.to_owned())),
                },
                Err(e) => {
                    PromptAnswer::Deny(Some(format!("the prompt failed: {}", describe(py, &e))))
                }
            }
        })
    }
}

/// Either the host fns registered before the project is opened, or the open session.
enum State {
    Pending(Vec<Arc<HostFn>>),
    Open(Arc<Session>),
    Closed,
}

/// A project: `Project(path, model=None, log=True)`. It is loaded at its first use, so the
/// fns registered before it are in its namespace (a worker may name them in `toolsets:`).
#[pyclass(subclass, module = "llm_do._llm_do")]
struct Project {
    start: PathBuf,
    options: OpenOptions,
    state: Mutex<State>,
    /// Who approvals are asked of, for the whole life of the project.
    prompter: Arc<PyPrompter>,
}

impl Project {
    /// The open session (opening it on first use).
    fn session(&self, py: Python<'_>) -> PyResult<Arc<Session>> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| PyRuntimeError::new_err("poisoned"))?;
        match &mut *state {
            State::Open(s) => Ok(s.clone()),
            State::Closed => Err(PyRuntimeError::new_err("the project is closed")),
            State::Pending(hosts) => {
                let hosts = std::mem::take(hosts);
                let (start, options) = (self.start.clone(), self.options.clone());
                let prompter: Arc<dyn Prompter> = self.prompter.clone();
                let opened = py.detach(|| {
                    let _entered = tokio().enter();
                    Session::open(&start, &options, hosts, Some(prompter))
                });
                let s = Arc::new(opened.map_err(|e| py_error(py, &e))?);
                *state = State::Open(s.clone());
                Ok(s)
            }
        }
    }
}

#[pymethods]
impl Project {
    #[new]
    #[pyo3(signature = (path = ".".into(), *, model = None, log = true))]
    fn new(path: PathBuf, model: Option<String>, log: bool) -> Self {
        Project {
            start: path,
            options: OpenOptions { model, log },
            state: Mutex::new(State::Pending(Vec::new())),
            prompter: Arc::new(PyPrompter::new()),
        }
    }

    /// Register `func` as the fn `name` (`schema`: JSON Schema of its keyword arguments).
    fn _register(
        &self,
        py: Python<'_>,
        name: String,
        description: String,
        schema: &Bound<'_, PyAny>,
        func: Py<PyAny>,
    ) -> PyResult<()> {
        let schema = to_json(schema)?;
        let host = HostFn::blocking(name, description, schema, move |args| {
            call_python(&func, args)
        });
        let mut state = self
            .state
            .lock()
            .map_err(|_| PyRuntimeError::new_err("poisoned"))?;
        match &mut *state {
            State::Pending(hosts) => {
                hosts.retain(|h| h.name != host.name);
                hosts.push(Arc::new(host));
                Ok(())
            }
            State::Open(s) => {
                let s = s.clone();
                drop(state);
                let added = py.detach(|| {
                    let _entered = tokio().enter();
                    s.add_host(host)
                });
                added.map_err(|e| py_error(py, &e))
            }
            State::Closed => Err(PyRuntimeError::new_err("the project is closed")),
        }
    }

    /// Ask approvals of `func` (called with the request dict) from now on.
    fn _set_prompter(&self, func: Py<PyAny>) {
        self.prompter.set(func);
    }

    /// The project root (loads the project).
    #[getter]
    fn root(&self, py: Python<'_>) -> PyResult<PathBuf> {
        Ok(self.session(py)?.runtime().settings.root.clone())
    }

    /// Call `name` with `input` and wait for its output.
    #[pyo3(signature = (name, input = None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        name: String,
        input: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = input_of(input)?;
        let s = self.session(py)?;
        let out = wait(py, |scope| async move { s.call(&name, input, scope).await })?;
        to_py(py, &out)
    }

    /// Call `name` with `input` from asyncio: an awaitable of its output. Cancelling the task
    /// cancels the call tree.
    #[pyo3(signature = (name, input = None))]
    fn acall<'py>(
        &self,
        py: Python<'py>,
        name: String,
        input: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = input_of(input)?;
        let s = self.session(py)?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let scope = CancelScope::default().child();
            let _guard = CancelOnDrop(scope.clone());
            let out = s.call(&name, input, scope).await;
            Python::attach(|py| match out {
                Ok(v) => to_py(py, &v).map(Bound::unbind),
                Err(e) => Err(py_error(py, &e)),
            })
        })
    }

    /// Run the Rhai script at `path` with `args` and return its value.
    #[pyo3(signature = (path, args = Vec::new()))]
    fn run_script<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        args: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py)?;
        let out = wait(py, |_| async move { s.run_script(&path, args).await })?;
        to_py(py, &out)
    }

    /// Run the cases of `name` (`repeat` runs each) and return the report (as `llm-do test
    /// --json` prints it).
    #[pyo3(signature = (name, repeat = 1))]
    fn test<'py>(&self, py: Python<'py>, name: String, repeat: u32) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py)?;
        let out = wait(py, |_| async move { s.test(&name, repeat).await })?;
        to_py(py, &out)
    }

    /// A conversation with `worker`.
    fn chat(&self, py: Python<'_>, worker: &str) -> PyResult<Chat> {
        let s = self.session(py)?;
        let chat = s.chat(worker).map_err(|e| py_error(py, &e))?;
        Ok(Chat(Arc::new(chat)))
    }

    /// Reload the project from disk (registered fns stay).
    fn reload(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.session(py)?;
        s.reload().map_err(|e| py_error(py, &e))
    }

    /// Close the project: wait for work running beside finished calls, close the run log.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let state = {
            let mut state = self
                .state
                .lock()
                .map_err(|_| PyRuntimeError::new_err("poisoned"))?;
            std::mem::replace(&mut *state, State::Closed)
        };
        if let State::Open(s) = state {
            wait(py, |_| async move { s.close(true).await })?;
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .map(|s| std::mem::replace(s, State::Closed));
        if let Ok(State::Open(s)) = state {
            // The run log's last batch is written; the GIL is released meanwhile (a shadow
            // side still running may be a Python fn).
            let _ = Python::attach(|py| py.detach(|| tokio().block_on(s.close(true))));
        }
    }
}

/// A conversation with one worker: `send(text)` returns its answer.
#[pyclass(module = "llm_do._llm_do")]
struct Chat(Arc<llm_do::session::Chat>);

#[pymethods]
impl Chat {
    /// Send `text` as the next turn and return the worker's answer.
    fn send<'py>(&self, py: Python<'py>, text: String) -> PyResult<Bound<'py, PyAny>> {
        let chat = self.0.clone();
        let out = wait(py, |scope| async move { chat.send(&text, scope).await })?;
        to_py(py, &out)
    }
}

#[pymodule]
fn _llm_do(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .max_blocking_threads(llm_do::runtime::seam::BLOCKING_THREADS);
    pyo3_async_runtimes::tokio::init(builder);
    m.add_class::<Project>()?;
    m.add_class::<Chat>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
