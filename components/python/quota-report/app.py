"""quota-report: a mailbox-quota report, an idconn connector written in
Python (componentize-py) against idconn:connector@0.4.0.

- export: `<connection>_quotas.csv`, one row per mailbox, from
  `Get-Mailbox -ResultSize Unlimited | Select-Object -Property ...`.
  The properties are Exchange's (Get-Mailbox.md and Set-Mailbox.md in
  MicrosoftDocs/office-docs-powershell, exchange/exchange-ps/exchange/):
  IssueWarningQuota, ProhibitSendQuota and ProhibitSendReceiveQuota are
  `Unlimited<ByteQuantifiedSize>` ("a number ... or the value unlimited"),
  written as PowerShell prints them (e.g. `1.9 GB (2,040,109,466 bytes)`,
  `Unlimited`); UseDatabaseQuotaDefaults (Set-Mailbox.md: whether the
  mailbox's own quotas or its database's apply) is `$true`/`$false`;
  Database is the mailbox database's name.
- check: `Get-MailboxDatabase` (read-only), the number of databases.
- fulfill: only quota changes of existing mailboxes (`modified` orders on a
  mailbox whose changes are among the four quota settings), each one
  `Set-Mailbox -Identity <Guid> -<Setting> <value>`: a write cmdlet, which
  the host runs only when the operator approved it (Grants.fulfill, or the
  connection pinning this build with ComponentSha256). Every other order is
  answered with an error saying so.
"""

import csv
import os

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import operations as ops
from wit_world.imports import report, shell
from wit_world.imports import values as v

import rows

COLUMNS = [
    "Guid",
    "PrimarySmtpAddress",
    "DisplayName",
    "Database",
    "UseDatabaseQuotaDefaults",
    "IssueWarningQuota",
    "ProhibitSendQuota",
    "ProhibitSendReceiveQuota",
]

QUOTA_SETTINGS = ["IssueWarningQuota", "ProhibitSendQuota", "ProhibitSendReceiveQuota"]
FLAG_SETTINGS = ["UseDatabaseQuotaDefaults"]

# Objects per batch pulled from the host.
BATCH = 512


def _text(value):
    return v.Value_Scalar(v.Scalar_Text(value))


def _command(name, parameters):
    return shell.Command(name, [shell.Parameter(n, shell.Argument_Value(a)) for n, a in parameters])


def _describe(error):
    """A shell error as one line for the operator, and whether retrying may help."""
    if isinstance(error, shell.Error_Remote):
        return error.value.message, False
    if isinstance(error, shell.Error_Retryable):
        return "the server asked to retry: " + error.value.reason, True
    if isinstance(error, shell.Error_Timeout):
        return "the call timed out", True
    if isinstance(error, shell.Error_Transport):
        return "transport: " + error.value, True
    return "%s: %s" % (type(error).__name__.split("_")[-1].lower(), error.value), False


def _failure(err):
    message, retryable = _describe(err.value)
    return Err(ops.Failure(message, retryable))


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        # PowerShell's rendering of a boolean, as the Rust connector writes it.
        return "True" if value else "False"
    if isinstance(value, list):
        return "|".join(_csv_value(x) for x in value)
    return str(value)


class Operations(exports.Operations):
    def export(self, request):
        pipeline = [
            _command("Get-Mailbox", [("ResultSize", _text("Unlimited"))]),
            _command(
                "Select-Object",
                [("Property", v.Value_List([v.Scalar_Text(c) for c in COLUMNS]))],
            ),
        ]
        path = os.path.join(request.output_dir, request.connection + "_quotas.csv")
        count = 0
        try:
            with shell.invoke(pipeline) as output, open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(COLUMNS)
                while True:
                    batch = output.next(BATCH)
                    if batch is None:
                        break
                    for row in rows.rows(batch):
                        writer.writerow([_csv_value(row.get(c)) for c in COLUMNS])
                    count += len(batch.objects)
                    report.progress(report.ProgressUpdate("mailbox", count, None, False))
                for e in output.errors():
                    report.log(report.Level.WARN, "Get-Mailbox: " + e.message)
        except Err as err:
            raise _failure(err)
        report.log(report.Level.INFO, "%d mailboxes written to %s" % (count, os.path.basename(path)))
        return ops.ExportSummary(True, [("mailbox", count)], count, 0, 0)

    def check(self, request):
        try:
            with shell.invoke([_command("Get-MailboxDatabase", [])]) as output:
                databases = [r for b in iter(lambda: output.next(BATCH), None) for r in rows.rows(b)]
        except Err as err:
            raise _failure(err)
        names = sorted(str(d.get("Name", "")) for d in databases)
        return ops.CheckReport(
            "reached %d mailbox databases" % len(names),
            [("databases", ", ".join(names))],
        )

    def fulfill(self, request):
        return [self._order(o) for o in request.orders]

    def _order(self, order):
        def errored(message):
            return ops.OrderResult(order.assignment_id, ops.ProvisioningState.ERRORED, message)

        if not isinstance(order.change_type, ops.ChangeType_Modified):
            return errored("quota-report only exports mailbox quotas and changes them on existing mailboxes")
        fields = dict(order.resource)
        fields.update(dict(order.changes))
        guid = fields.get("Guid")
        if not isinstance(guid, ops.Field_Text) or not guid.value:
            return errored("the order has no mailbox Guid")
        parameters = []
        for name, field in order.changes:
            if name == "Guid":
                continue
            if name in QUOTA_SETTINGS and isinstance(field, ops.Field_Text):
                # Set-Mailbox.md: "a number ... or the value unlimited",
                # qualified with B, KB, MB, GB or TB.
                parameters.append((name, _text(field.value)))
            elif name in FLAG_SETTINGS and isinstance(field, ops.Field_Boolean):
                parameters.append((name, v.Value_Scalar(v.Scalar_Boolean(field.value))))
            else:
                return errored("quota-report only changes %s, not %s" % (
                    ", ".join(QUOTA_SETTINGS + FLAG_SETTINGS), name))
        if not parameters:
            return ops.OrderResult(order.assignment_id, ops.ProvisioningState.EXECUTED, "nothing to change")
        command = _command("Set-Mailbox", [("Identity", _text(guid.value))] + parameters)
        try:
            with shell.invoke([command]) as output:
                while output.next(BATCH) is not None:
                    pass
                errors = output.errors()
        except Err as err:
            return errored(_describe(err.value)[0])
        if errors:
            return errored(errors[0].message)
        return ops.OrderResult(order.assignment_id, ops.ProvisioningState.EXECUTED, "")
