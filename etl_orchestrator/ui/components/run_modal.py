"""The run modal: run a job now with parameters, as a dry-run, or rerun a run, after an impact
preview.

Pages mount `run_modal()` once (layout.frame does) and open it with
`RunModalState.show(job_id, dry_run, from_run_id)` (`from_run_id` 0: a new run; otherwise
prefill from that run's params, for a rerun). Three steps: the form (parameters from the job's
JSON Schema, checked field by field as the user types; options; reason), the impact preview
(services.impact, read-only), and the result. The server judges on every step: the job's
pydantic model checks the params, and Confirm re-reads the role from the database.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from reflex_components_radix.themes.components.checkbox import Checkbox  # type: ignore[import-untyped]

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job
from etl_orchestrator.services import catalog, impact, param_form, run_actions, runs, settings
from etl_orchestrator.services.param_form import ParamField
from etl_orchestrator.services.run_queries import UnknownRunError, get_run
from etl_orchestrator.ui.state import signed_in, signin_redirect
from etl_orchestrator.web import actions, sessions

#: Field checks wait this long after the last keystroke (ms).
DEBOUNCE_MS = 300
PARAM_PREFIX = "param:"
FORM, CONFIRM, DONE = "form", "confirm", "done"


@dataclass
class ImpactRow:
    """One run of the preview, as text."""

    job_id: str = ""
    name: str = ""
    starts: str = ""
    writes: str = ""
    expected: str = ""


@dataclass
class QueuedRun:
    run_id: int = 0
    job_id: str = ""


@dataclass
class ImpactView:
    runs: list[ImpactRow] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    expected_total: str = ""
    free_slots: int = 0
    cap: int = 0
    active: int = 0
    queued_ahead: int = 0


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def impact_view(found: impact.Impact) -> ImpactView:
    rows = [
        ImpactRow(
            job_id=run.job_id,
            name=run.name,
            starts=(f"waits for {', '.join(run.held_by)}" if run.held_by else "queued at once"),
            writes=", ".join(run.writes) or "nothing declared",
            expected=(
                f"about {_duration(run.expected_s)} (median of {run.history})"
                if run.expected_s is not None
                else "no history"
            ),
        )
        for run in found.runs
    ]
    total = (
        f"about {_duration(found.expected_total_s)} along its longest chain"
        if found.expected_total_s is not None
        else "unknown: some of these jobs have no succeeded real run yet"
    )
    return ImpactView(
        runs=rows,
        tables=found.tables,
        expected_total=total,
        free_slots=found.free_slots,
        cap=found.cap,
        active=found.active,
        queued_ahead=found.queued_ahead,
    )


def _schema(job: Job) -> dict[str, Any] | None:
    """The job's parameter schema. PostgreSQL's JSONB sorts the stored copy's keys, so the
    declared model's own (same schema, fields in declaration order) is preferred when this
    process knows the job."""
    spec = catalog.job_specs().get(job.job_id)
    if spec is not None and spec.params is not None:
        return spec.params_schema()
    return job.params_schema


class RunModalState(rx.State):
    is_open: rx.Field[bool] = rx.field(False)
    job_id: rx.Field[str] = rx.field("")
    dry_run: rx.Field[bool] = rx.field(False)
    from_run_id: rx.Field[int] = rx.field(0)
    job_name: rx.Field[str] = rx.field("")
    step: rx.Field[str] = rx.field(FORM)
    fields: rx.Field[list[ParamField]] = rx.field(default_factory=list)
    values: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    errors: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    downstream: rx.Field[bool] = rx.field(False)
    concurrency: rx.Field[str] = rx.field("")
    cap: rx.Field[int] = rx.field(0)
    reason: rx.Field[str] = rx.field("")
    #: What went wrong with the whole request (unknown job, refused, ...); "" when nothing.
    problem: rx.Field[str] = rx.field("")
    preview: rx.Field[ImpactView] = rx.field(default_factory=ImpactView)
    run_ids: rx.Field[list[int]] = rx.field(default_factory=list)
    queued: rx.Field[list[QueuedRun]] = rx.field(default_factory=list)

    @rx.var
    def has_errors(self) -> bool:
        return any(self.errors.values())

    @rx.var
    def is_rerun(self) -> bool:
        return self.from_run_id > 0

    def _fresh(self) -> None:
        self.step, self.problem, self.errors, self.run_ids, self.queued = FORM, "", {}, [], []
        self.fields, self.values, self.reason, self.concurrency = [], {}, "", ""
        self.downstream, self.job_name, self.preview = False, "", ImpactView()

    def show(self, job_id: str, dry_run: bool, from_run_id: int) -> EventSpec | None:
        """Open the modal on a job (or a run to rerun), with its form built from the schema."""
        who = signed_in(self)
        if who is None:
            return signin_redirect(self)
        self._fresh()
        self.job_id, self.dry_run = str(job_id), bool(dry_run)
        self.from_run_id = max(int(from_run_id or 0), 0)
        self.is_open = True
        try:
            with session_scope() as session:
                previous: dict[str, Any] | None = None
                if self.from_run_id:
                    run = get_run(session, self.from_run_id)
                    self.job_id, previous = run.job_id, dict(run.params or {})
                job = session.get(Job, self.job_id)
                if job is None:
                    self.problem = f"Unknown job {self.job_id!r}: it may have been removed."
                    return None
                self.job_name = job.name
                self.cap = settings.parallel_jobs(session)
                fields = param_form.fields_from_schema(_schema(job))
        except UnknownRunError as error:
            self.problem = f"Cannot rerun: {error}."
            return None
        except param_form.UnsupportedSchema as error:
            self.problem = f"This job's parameters cannot be shown as a form: {error}."
            return None
        self.fields = fields
        self.values = param_form.initial_values(fields, previous)
        if not actions.allows(who.role, actions.OPERATOR):
            # Display only: Confirm reads the role from the database again and refuses.
            self.problem = (
                f"You are a {who.role}: you can look at the options and the impact, but queueing "
                "needs the operator role."
            )
        return None

    def set_open(self, value: bool) -> None:
        self.is_open = bool(value)

    def _field(self, name: str) -> ParamField | None:
        return next((f for f in self.fields if f.name == name), None)

    def set_value(self, name: str, value: str) -> None:
        """One field changed (debounced by the input): keep its text and check it now."""
        f = self._field(str(name))
        if f is None:
            return
        text = str(value)
        self.values = {**self.values, f.name: text}
        self.errors = {**self.errors, f.name: param_form.validate_field(f, text)}
        if self.errors.get(param_form.FORM_KEY):
            self.errors = {**self.errors, param_form.FORM_KEY: ""}

    def set_flag(self, name: str, checked: bool) -> None:
        self.set_value(name, "true" if checked is True else "false")

    def set_dry_run(self, checked: bool) -> None:
        self.dry_run = checked is True

    def set_downstream(self, checked: bool) -> None:
        self.downstream = checked is True

    def set_concurrency(self, value: str) -> None:
        self.concurrency = str(value)
        self.errors = {**self.errors, "concurrency": self._concurrency_error()}

    def set_reason(self, value: str) -> None:
        self.reason = str(value)
        if self.reason.strip():
            self.errors = {**self.errors, "reason": ""}

    def _concurrency_error(self) -> str:
        text = self.concurrency.strip()
        if not text:
            return ""
        if not text.isdigit() or not 1 <= int(text) <= self.cap:
            return f"Use a whole number from 1 to {self.cap} (the current cap), or leave it empty"
        return ""

    def _read_form(self, form: dict[str, Any]) -> None:
        """What the browser holds at submit: a debounced change may not have arrived yet."""
        values = dict(self.values)
        for f in self.fields:
            key = PARAM_PREFIX + f.name
            if f.kind == "boolean":
                values[f.name] = "true" if form.get(key) in ("on", "true", True) else "false"
            elif key in form:
                values[f.name] = str(form[key])
        self.values = values
        if "reason" in form:
            self.reason = str(form["reason"])
        if "concurrency" in form:
            self.concurrency = str(form["concurrency"])
        if form:  # a checkbox left unticked is absent from the form data
            self.dry_run = form.get("dry_run") in ("on", "true", True)
            self.downstream = form.get("downstream") in ("on", "true", True)

    def _check_all(self) -> dict[str, Any] | None:
        """The params when the whole form is valid by the schema and the job's model."""
        params, errors = param_form.to_params(self.fields, self.values)
        concurrency = self._concurrency_error()
        if concurrency:
            errors["concurrency"] = concurrency
        if not self.reason.strip():
            errors["reason"] = "Say why you run it: a reason is required for the audit"
        if not errors:
            spec = catalog.job_specs().get(self.job_id)
            try:
                params = runs.validate_params(spec, self.job_id, params)
            except runs.ParamsError as error:
                errors = param_form.field_errors(self.fields, error.errors)
        self.errors = errors
        if errors:
            self.problem = "Correct the fields marked below, then review again."
            return None
        self.problem = ""
        return params

    def review(self, form: dict[str, Any]) -> Any:
        """Form → impact preview: check everything, then show what Confirm would do."""
        if signed_in(self) is None:
            return signin_redirect(self)
        self._read_form(form)
        if self._check_all() is None:
            return _focus("run-modal-problem")
        try:
            with session_scope() as session:
                found = impact.preview(
                    session, job_id=self.job_id, downstream=self.downstream, dry_run=self.dry_run
                )
        except runs.TriggerError as error:
            self.problem = str(error)
            return _focus("run-modal-problem")
        self.preview = impact_view(found)
        self.step = CONFIRM
        return _focus("run-modal-confirm")

    def back(self) -> Any:
        self.step = FORM
        return _focus("run-modal-review")

    def confirm(self) -> Any:
        """Queue the runs. Any client can send this: the session and role are checked here,
        against the database, and the runs, or a refusal, are audited in the same transaction."""
        params = self._check_all()
        if params is None:
            self.step = FORM
            return _focus("run-modal-problem")
        token = sessions.token_from_cookies(self.router.headers.cookie)
        refused = ""
        try:
            with session_scope() as session:
                who = sessions.authenticate(session, token)
                if who is None:
                    return signin_redirect(self)
                try:
                    result = actions.run_with_options(
                        session,
                        username=who.username,
                        job_id=self.job_id,
                        reason=self.reason,
                        params=params,
                        dry_run=self.dry_run,
                        downstream=self.downstream,
                        concurrency=int(self.concurrency) if self.concurrency.strip() else None,
                        from_run_id=self.from_run_id,
                    )
                except actions.RefusedError as error:
                    refused = str(error)  # the refusal's audit row commits with this scope
        except runs.ParamsError as error:
            self.errors = param_form.field_errors(self.fields, error.errors)
            self.problem = "Correct the fields marked below, then review again."
            self.step = FORM
            return _focus("run-modal-problem")
        except (runs.TriggerError, run_actions.RunActionError, UnknownRunError) as error:
            self.problem = str(error)
            return _focus("run-modal-problem")
        if refused:
            self.problem = refused
            return _focus("run-modal-problem")
        self.run_ids = result.run_ids
        self.queued = [
            QueuedRun(run_id=run_id, job_id=job_id)
            for run_id, job_id in zip(result.run_ids, result.job_ids, strict=True)
        ]
        self.step = DONE
        return _focus("run-modal-result")


def _focus(element_id: str) -> EventSpec:
    """Move focus after the step renders (the focused button may have gone with the old step)."""
    return rx.call_script(f"setTimeout(() => document.getElementById('{element_id}')?.focus(), 60)")


#: The form's text and errors by field name (dict vars; typed loosely for indexing by a Var).
_values: Any = RunModalState.values
_errors: Any = RunModalState.errors


def _param_input(f: Any) -> rx.Component:
    """`f` is the ObjectVar of one ParamField in a foreach."""
    input_id = f"param-{f.name}"
    described = f"param-{f.name}-help param-{f.name}-error"
    value = _values[f.name]
    error = _errors[f.name]
    invalid = rx.cond(error, "true", "false")
    text_input = rx.input(
        id=input_id,
        name=f"{PARAM_PREFIX}{f.name}",
        value=value,
        type=rx.match(f.kind, ("date", "date"), ("date-time", "datetime-local"), "text"),
        input_mode=rx.match(f.kind, ("integer", "numeric"), ("number", "decimal"), "text"),
        required=f.required,
        aria_required=rx.cond(f.required, "true", "false"),
        aria_invalid=invalid,
        aria_describedby=described,
        debounce_timeout=DEBOUNCE_MS,
        on_change=lambda text: RunModalState.set_value(f.name, text),  # type: ignore[call-arg]
        width="100%",
    )
    select = rx.el.select(
        rx.el.option(rx.cond(f.required, "Choose…", "(default)"), value=""),
        rx.foreach(f.options, lambda option: rx.el.option(option, value=option)),
        id=input_id,
        name=f"{PARAM_PREFIX}{f.name}",
        value=value,
        required=f.required,
        aria_invalid=invalid,
        aria_describedby=described,
        on_change=lambda text: RunModalState.set_value(f.name, text),  # type: ignore[call-arg]
        class_name="etl-select",
    )
    checkbox = Checkbox.create(
        id=input_id,
        name=f"{PARAM_PREFIX}{f.name}",
        checked=value == "true",
        aria_describedby=described,
        on_change=lambda checked: RunModalState.set_flag(f.name, checked),  # type: ignore[call-arg]
    )
    return rx.match(f.kind, ("enum", select), ("boolean", checkbox), text_input)


def _param_field(f: Any) -> rx.Component:
    error = _errors[f.name]
    return rx.vstack(
        rx.el.label(
            f.label,
            rx.cond(
                f.required,
                rx.el.span(" (required)", class_name="etl-required"),
            ),
            html_for=f"param-{f.name}",
            class_name="etl-label",
        ),
        _param_input(f),
        rx.text(
            f.description,
            rx.cond(f.description & f.hint, " — ", ""),
            f.hint,
            size="1",
            color_scheme="gray",
            high_contrast=True,
            id=f"param-{f.name}-help",
        ),
        rx.text(
            error,
            size="1",
            color_scheme="red",
            high_contrast=True,
            weight="medium",
            aria_live="polite",
            id=f"param-{f.name}-error",
            class_name="etl-field-error",
        ),
        spacing="1",
        width="100%",
        data_field=f.name,
    )


def _option_check(label: str, name: str, checked: Any, on_change: Any, help_text: str) -> Any:
    return rx.hstack(
        Checkbox.create(
            id=f"run-modal-{name}",
            name=name,
            checked=checked,
            on_change=on_change,
            aria_describedby=f"run-modal-{name}-help",
        ),
        rx.vstack(
            rx.el.label(label, html_for=f"run-modal-{name}", class_name="etl-label"),
            rx.text(
                help_text,
                size="1",
                color_scheme="gray",
                high_contrast=True,
                id=f"run-modal-{name}-help",
            ),
            spacing="0",
        ),
        align="start",
        spacing="2",
    )


def _options() -> rx.Component:
    concurrency_error = _errors["concurrency"]
    reason_error = _errors["reason"]
    return rx.el.fieldset(
        rx.el.legend("Options", class_name="etl-label"),
        rx.vstack(
            _option_check(
                "Dry-run",
                "dry_run",
                RunModalState.dry_run,
                RunModalState.set_dry_run,
                "Runs in a transaction that is rolled back: reports what it would do, "
                "changes nothing.",
            ),
            _option_check(
                "Include downstream",
                "downstream",
                RunModalState.downstream,
                RunModalState.set_downstream,
                "Also runs every dependent job without a schedule of its own.",
            ),
            rx.vstack(
                rx.el.label(
                    "Concurrency override", html_for="run-modal-concurrency", class_name="etl-label"
                ),
                rx.input(
                    id="run-modal-concurrency",
                    name="concurrency",
                    value=RunModalState.concurrency,
                    input_mode="numeric",
                    aria_invalid=rx.cond(concurrency_error, "true", "false"),
                    aria_describedby="run-modal-concurrency-help run-modal-concurrency-error",
                    debounce_timeout=DEBOUNCE_MS,
                    on_change=RunModalState.set_concurrency,
                    width="8rem",
                ),
                rx.text(
                    "At most this many runs of the batch at once, 1 to ",
                    RunModalState.cap,
                    " (the current cap); empty: no limit of its own.",
                    size="1",
                    color_scheme="gray",
                    high_contrast=True,
                    id="run-modal-concurrency-help",
                ),
                rx.text(
                    concurrency_error,
                    size="1",
                    color_scheme="red",
                    high_contrast=True,
                    weight="medium",
                    aria_live="polite",
                    id="run-modal-concurrency-error",
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.el.label(
                    "Reason (required, kept in the audit)",
                    html_for="run-modal-reason",
                    class_name="etl-label",
                ),
                rx.input(
                    id="run-modal-reason",
                    name="reason",
                    value=RunModalState.reason,
                    required=True,
                    aria_required="true",
                    aria_invalid=rx.cond(reason_error, "true", "false"),
                    aria_describedby="run-modal-reason-error",
                    debounce_timeout=DEBOUNCE_MS,
                    on_change=RunModalState.set_reason,
                    width="100%",
                ),
                rx.text(
                    reason_error,
                    size="1",
                    color_scheme="red",
                    high_contrast=True,
                    weight="medium",
                    aria_live="polite",
                    id="run-modal-reason-error",
                ),
                spacing="1",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        style={"border": "none", "padding": 0, "margin": 0, "minWidth": 0},
    )


def _problem() -> rx.Component:
    return rx.cond(
        RunModalState.problem,
        rx.callout.root(
            rx.callout.text(RunModalState.problem),
            color_scheme="red",
            high_contrast=True,
            role="alert",
            id="run-modal-problem",
            tab_index=-1,
        ),
    )


def _form_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.cond(
                RunModalState.fields,
                rx.el.fieldset(
                    rx.el.legend("Parameters", class_name="etl-label"),
                    rx.vstack(
                        rx.foreach(RunModalState.fields, _param_field), spacing="3", width="100%"
                    ),
                    rx.text(
                        _errors[param_form.FORM_KEY],
                        size="1",
                        color_scheme="red",
                        high_contrast=True,
                        weight="medium",
                        aria_live="polite",
                        id="run-modal-params-error",
                    ),
                    style={"border": "none", "padding": 0, "margin": 0, "minWidth": 0},
                    width="100%",
                ),
                rx.text("This job takes no parameters.", size="2", id="run-modal-no-params"),
            ),
            _options(),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", type="button", variant="soft")),
                rx.button(
                    "Review impact",
                    type="submit",
                    id="run-modal-review",
                    disabled=RunModalState.has_errors,
                ),
                justify="end",
                wrap="wrap",
                spacing="3",
                width="100%",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=RunModalState.review,
        # Our own field errors, tied to their inputs, instead of the browser's bubbles.
        no_validate=True,
        id="run-modal-form",
    )


def _impact_row(row: Any) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row.job_id),
        rx.table.cell(row.starts),
        rx.table.cell(row.writes),
        rx.table.cell(row.expected),
        data_job_id=row.job_id,
    )


def _confirm_step() -> rx.Component:
    view: Any = RunModalState.preview
    return rx.vstack(
        rx.heading("Expected impact", as_="h3", size="3", id="run-modal-impact-h"),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Run of job"),
                        rx.table.column_header_cell("Starts"),
                        rx.table.column_header_cell("Writes"),
                        rx.table.column_header_cell("Expected duration"),
                    )
                ),
                rx.table.body(rx.foreach(view.runs, _impact_row)),
                size="1",
                id="run-modal-impact-runs",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.el.dl(
            rx.el.dt("Runs created", class_name="etl-label"),
            rx.el.dd(view.runs.length(), id="run-modal-run-count"),
            rx.el.dt("Tables written", class_name="etl-label"),
            rx.el.dd(
                rx.el.ul(
                    rx.foreach(view.tables, lambda t: rx.el.li(t, data_table=t)),
                    id="run-modal-tables",
                )
            ),
            rx.el.dt("Expected duration", class_name="etl-label"),
            rx.el.dd(view.expected_total, id="run-modal-total"),
            rx.el.dt("Free slots now", class_name="etl-label"),
            rx.el.dd(
                view.free_slots,
                " of ",
                view.cap,
                " (",
                view.active,
                " running or dispatched)",
                id="run-modal-slots",
            ),
            rx.el.dt("Runs queued ahead", class_name="etl-label"),
            rx.el.dd(view.queued_ahead, id="run-modal-ahead"),
        ),
        rx.cond(
            RunModalState.dry_run,
            rx.text("Dry-run: nothing is changed in the warehouse.", size="2", weight="medium"),
        ),
        rx.hstack(
            rx.button("Back", type="button", variant="soft", on_click=RunModalState.back),
            rx.button(
                rx.cond(RunModalState.dry_run, "Confirm dry-run", "Confirm and queue"),
                type="button",
                id="run-modal-confirm",
                on_click=RunModalState.confirm,
            ),
            justify="end",
            wrap="wrap",
            spacing="3",
            width="100%",
        ),
        spacing="3",
        width="100%",
        aria_labelledby="run-modal-impact-h",
        role="region",
    )


def _done_step() -> rx.Component:
    return rx.vstack(
        rx.callout.root(
            rx.callout.text(
                "Queued ",
                RunModalState.run_ids.length(),
                rx.cond(RunModalState.run_ids.length() == 1, " run.", " runs."),
            ),
            color_scheme="grass",
            high_contrast=True,
            role="status",
            id="run-modal-result",
            tab_index=-1,
        ),
        rx.el.ul(
            rx.foreach(
                RunModalState.queued,
                lambda run: rx.el.li(
                    rx.link(f"Run #{run.run_id}", href=f"/runs/{run.run_id}"),
                    " · ",
                    run.job_id,
                    data_run_id=run.run_id,
                ),
            ),
            id="run-modal-run-links",
        ),
        rx.hstack(
            rx.dialog.close(rx.button("Close", type="button", id="run-modal-close")),
            justify="end",
            wrap="wrap",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def run_modal() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(
                rx.cond(RunModalState.is_rerun, "Rerun ", "Run "),
                RunModalState.job_id,
            ),
            rx.dialog.description(
                rx.cond(
                    RunModalState.is_rerun,
                    rx.text.span("Rerun of run #", RunModalState.from_run_id, ". "),
                ),
                rx.match(
                    RunModalState.step,
                    (CONFIRM, "Check what this would do, then confirm."),
                    (DONE, "Done."),
                    "Set the parameters and options, then review the impact before queueing.",
                ),
                size="2",
            ),
            _problem(),
            rx.match(
                RunModalState.step,
                (CONFIRM, _confirm_step()),
                (DONE, _done_step()),
                rx.cond(RunModalState.job_name, _form_step()),
            ),
            id="run-modal",
            # Keep Radix's limit to the screen's width: a bare 44rem overflows a phone.
            max_width="min(44rem, calc(100vw - 2rem))",
        ),
        open=RunModalState.is_open,
        on_open_change=RunModalState.set_open,
    )
