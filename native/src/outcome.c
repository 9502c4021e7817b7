/*
 * How a run ended, from what supervision saw: the program's own end (exit code or signal), a
 * limit the supervisor or the kernel enforced, a stop from outside, or a failure of the sandbox
 * itself — in that order of precedence. The program failing is an outcome; only the sandbox
 * failing is CORRAL_INTERNAL_ERROR, with a structured error saying where.
 */
#include "container.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static void set_text(char *buf, size_t len, const char *text)
{
	snprintf(buf, len, "%s", text ? text : "");
}

void describe_failure(corral_error *e, const struct report *r, const struct mount_plan *plan, const corral_spec *s)
{
	memset(e, 0, sizeof *e);
	e->errnum = r->err;
	set_text(e->step, sizeof e->step, step_name(r->step));
	if (r->step >= STEP_MOUNT_BASE && r->step - STEP_MOUNT_BASE < plan->n) {
		const struct mount_op *op = &plan->ops[r->step - STEP_MOUNT_BASE];
		e->code = CORRAL_E_CONTAINER;
		set_text(e->op, sizeof e->op, mount_op_name(op->kind));
		snprintf(e->message, sizeof e->message, "container setup: %s %s%s%s: %s", mount_op_name(op->kind),
			 op->fstype ? op->fstype : "", op->fstype ? " on " : "", op->dst, strerror(r->err));
	} else if (r->step == STEP_EXEC) {
		/* Not the sandbox's failure: the program could not start (reported as exit 127). */
		e->code = CORRAL_E_NONE;
		snprintf(e->message, sizeof e->message, "execve %s: %s", s ? s->argv[0] : "program", strerror(r->err));
	} else {
		e->code = (r->step == STEP_CG_ATTACH) ? CORRAL_E_CGROUP : CORRAL_E_CONTAINER;
		snprintf(e->message, sizeof e->message, "container setup: %s: %s", step_name(r->step), strerror(r->err));
	}
}

void outcome_fill(corral_outcome *o, const struct supervision *sv, const struct mount_plan *plan, const corral_spec *s)
{
	int64_t end = sv->got_exit && sv->t_exit_us ? sv->t_exit_us : sv->t_end_us;
	o->wall_us = sv->t_exec_us ? end - sv->t_exec_us : 0;
	if (sv->got_exit) {
		if (WIFEXITED(sv->exit_status)) {
			o->exited = 1;
			o->exit_code = WEXITSTATUS(sv->exit_status);
		} else if (WIFSIGNALED(sv->exit_status)) {
			o->signal = WTERMSIG(sv->exit_status);
		}
	} else if (sv->killed_for) {
		o->signal = SIGKILL;
	}
	if (sv->fail.kind && sv->fail.step != STEP_EXEC) {
		o->status = CORRAL_INTERNAL_ERROR;
		describe_failure(&o->error, &sv->fail, plan, s);
		o->exited = 0, o->signal = 0;
		return;
	}
	if (sv->killed_for == -1) {
		o->status = CORRAL_INTERNAL_ERROR;
		memset(&o->error, 0, sizeof o->error);
		o->error.code = CORRAL_E_TIMEOUT;
		o->error.errnum = ETIMEDOUT;
		set_text(o->error.step, sizeof o->error.step, "setup-timeout");
		snprintf(o->error.message, sizeof o->error.message, "container setup did not finish within %d s: %s",
			 CORRAL_SETUP_TIMEOUT_S, sv->stall);
		return;
	}
	if (sv->killed_for == CORRAL_LIMIT_OUTPUT) {
		o->status = CORRAL_OUTPUT_LIMIT, o->limit = CORRAL_LIMIT_OUTPUT;
		return;
	}
	if (sv->killed_for == CORRAL_LIMIT_CPU || sv->killed_for == CORRAL_LIMIT_WALL) {
		o->status = CORRAL_TIME_LIMIT, o->limit = sv->killed_for;
		return;
	}
	if (o->oom_kills > 0) {
		o->status = CORRAL_MEMORY_LIMIT, o->limit = CORRAL_LIMIT_MEMORY;
		return;
	}
	if (sv->fail.kind) { /* execve failed: the program could not start */
		o->status = CORRAL_RUNTIME_ERROR;
		o->exited = 1, o->exit_code = 127, o->signal = 0;
		describe_failure(&o->error, &sv->fail, plan, s);
		return;
	}
	if (!sv->got_exit) {
		o->status = CORRAL_INTERNAL_ERROR;
		memset(&o->error, 0, sizeof o->error);
		o->error.code = CORRAL_E_CONTAINER;
		set_text(o->error.step, sizeof o->error.step, "supervise");
		snprintf(o->error.message, sizeof o->error.message, "container init ended without reporting the program's status");
		return;
	}
	/* Limits overshot between two samples still count. */
	if (s->cpu_ms > 0 && o->cpu_us > s->cpu_ms * 1000) {
		o->status = CORRAL_TIME_LIMIT, o->limit = CORRAL_LIMIT_CPU;
		return;
	}
	if (s->wall_ms > 0 && o->wall_us > s->wall_ms * 1000) {
		o->status = CORRAL_TIME_LIMIT, o->limit = CORRAL_LIMIT_WALL;
		return;
	}
	o->status = (o->exited && o->exit_code == 0) ? CORRAL_OK : CORRAL_RUNTIME_ERROR;
}

/* How a run stopped from outside (corral_cancel, corral_stop) is reported. */
void outcome_stopped(corral_outcome *o, int limit)
{
	static const int status_of[] = {
		[CORRAL_LIMIT_NONE] = CORRAL_CANCELLED, [CORRAL_LIMIT_CPU] = CORRAL_TIME_LIMIT,
		[CORRAL_LIMIT_WALL] = CORRAL_TIME_LIMIT, [CORRAL_LIMIT_MEMORY] = CORRAL_MEMORY_LIMIT,
		[CORRAL_LIMIT_OUTPUT] = CORRAL_OUTPUT_LIMIT,
	};
	if (limit < CORRAL_LIMIT_NONE || limit > CORRAL_LIMIT_OUTPUT)
		limit = CORRAL_LIMIT_NONE;
	o->status = status_of[limit], o->limit = limit;
	memset(&o->error, 0, sizeof o->error);
	if (limit == CORRAL_LIMIT_NONE) {
		set_text(o->error.message, sizeof o->error.message, "cancelled");
		return;
	}
	/* Killed with the container (its init got SIGKILL), unless it had ended by itself. */
	if (!o->exited && !o->signal)
		o->signal = SIGKILL;
}
