"""The peer: pypsrp running the Exchange export the idconn component runs
(the same two pipelines, the same 42 selected properties) and writing the
same two CSV files with Python's csv module.

Run by `idconn-bench` (tests/bench); standalone:
    python3 tests/bench/pypsrp_export.py URL USER PASSWORD OUTDIR

Prints one line `rows <mailboxes> <databases>` on success.
"""

import csv
import datetime
import sys
import urllib.parse
import xml.etree.ElementTree as ET

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

MAILBOX_COLUMNS = (
    "Command,Database,EmailAddresses,UseDatabaseRetentionDefaults,RetainDeletedItemsUntilBackup,"
    "DeliverToMailboxAndForward,ExchangeGuid,ExchangeUserAccountControl,ForwardingAddress,"
    "ForwardingSmtpAddress,IsMailboxEnabled,ProhibitSendQuota,ProhibitSendReceiveQuota,"
    "RecoverableItemsQuota,RecoverableItemsWarningQuota,CalendarLoggingQuota,IsResource,IsLinked,"
    "IsShared,SamAccountName,AntispamBypassEnabled,ServerName,UseDatabaseQuotaDefaults,"
    "UserPrincipalName,WhenMailboxCreated,IsInactiveMailbox,AccountDisabledIsDirSynced,Alias,"
    "OrganizationalUnit,DisplayName,MaxSendSize,MaxReceiveSize,PrimarySmtpAddress,RecipientType,"
    "RecipientTypeDetails,Identity,IsValid,Name,DistinguishedName,Guid,ObjectCategory,"
    "WhenChangedUTC,WhenCreatedUTC,ObjectState"
).split(",")
DATABASE_COLUMNS = "Command,Name,Server,Mounted,ObjectCategory,Guid,WhenChangedUTC,WhenCreatedUTC,ObjectState".split(",")
NOT_SELECTED = {"Command", "AccountDisabledIsDirSynced"}


def selected(columns):
    return [c for c in columns if c not in NOT_SELECTED]


def date_text(text):
    """ISO 8601 UTC with a fraction only when it is not zero, as idconn writes."""
    try:
        head, dot, rest = text.partition(".")
        digits = ""
        if dot:
            digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
            head += rest[len(digits):]
        if head.endswith("Z"):
            head = head[:-1] + "+00:00"
        at = datetime.datetime.fromisoformat(head)
        if at.tzinfo is None:
            at = at.replace(tzinfo=datetime.timezone.utc)
        out = at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        digits = digits.rstrip("0")
        if digits:
            size = 3 if len(digits) <= 3 else 6 if len(digits) <= 6 else 9
            out += "." + digits.ljust(size, "0")
        return out + "Z"
    except ValueError:
        return text


def encode_item(text):
    return text.replace("%", "%25").replace(" ", "%20")


def scalar_text(value, name=""):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        if name.startswith("When") and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
            return date_text(value)
        return value
    if isinstance(value, (list, tuple)):
        return " ".join(encode_item(scalar_text(v)) for v in value)
    raw_lists = getattr(value, "property_sets", None)
    if raw_lists:
        # A collection pypsrp does not know (ProxyAddressCollection,
        # MultiValuedProperty): it keeps the <LST> as raw XML.
        items = [item.text or "" for item in ET.fromstring(raw_lists[0])]
        return " ".join(encode_item(i) for i in items)
    return str(value)


def email_addresses(value):
    text = scalar_text(value)
    items = text.split(" ") if text else []
    primary = [i for i in items if i.startswith("SMTP:")]
    return " ".join(primary + [i for i in items if not i.startswith("SMTP:")])


def properties(obj):
    props = dict(obj.adapted_properties)
    props.update(obj.extended_properties)
    return props


def export(pool, command, parameters, columns, path):
    ps = PowerShell(pool)
    ps.add_cmdlet(command)
    for name, value in parameters:
        ps.add_parameter(name, value)
    ps.add_cmdlet("Select-Object").add_parameter("Property", selected(columns))
    output = ps.invoke()
    if ps.had_errors:
        raise SystemExit(f"{command} failed: {ps.streams.error[0]}")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for obj in output:
            props = properties(obj)
            row = []
            for column in columns:
                if column == "Command":
                    row.append("Insert")
                elif column == "EmailAddresses":
                    row.append(email_addresses(props.get(column)))
                else:
                    row.append(scalar_text(props.get(column), column))
            writer.writerow(row)
    return len(output)


def main():
    url, user, password, out_dir = sys.argv[1:5]
    parsed = urllib.parse.urlparse(url)
    wsman = WSMan(
        parsed.hostname,
        port=parsed.port,
        path=parsed.path.lstrip("/"),
        ssl=False,
        auth="basic",
        username=user,
        password=password,
        encryption="never",
    )
    with RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
        databases = export(pool, "Get-MailboxDatabase", [("Status", True)], DATABASE_COLUMNS,
                           f"{out_dir}/pypsrp_databases.csv")
        mailboxes = export(pool, "Get-Mailbox", [("ResultSize", "Unlimited")], MAILBOX_COLUMNS,
                           f"{out_dir}/pypsrp_mailboxes.csv")
    print(f"rows {mailboxes} {databases}")


if __name__ == "__main__":
    main()
