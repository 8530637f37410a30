#!/usr/bin/env python3
"""The straightforward Python baseline for `simboard validate`.

Reads a manifest with the csv module, checks every ICCID (python-stdnum's
luhn for the check digit) and writes the same result rows as simboard, so the
benchmark can compare both the time and the output. It handles the damage the
benchmark generates; it is not a second implementation of every rule.

Usage: baseline.py MANIFEST RESULTS
"""
import csv
import re
import sys

from stdnum import luhn

SCIENTIFIC = re.compile(r"^[0-9]+([.,][0-9]+)?[eE]\+?[0-9]+$")
ALIASES = ("iccid", "simiccid", "iccidnumber")


def neutralise(cell):
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def describe(ch):
    if ch in "Oo":
        return f"'{ch}', the letter O (did you mean the digit 0?)"
    return f"'{ch}'"


def check(raw):
    """Returns (iccid, reason, message); reason is '' for a valid ICCID."""
    cell = raw.strip()
    if cell == "":
        return "", "missing_iccid", "the ICCID cell is empty"
    if SCIENTIFIC.match(cell):
        return cell, "scientific_notation", (
            "the ICCID was turned into a number in scientific notation by a spreadsheet "
            "and its digits are lost; re-export the column formatted as text")
    cell = cell.replace(" ", "").replace("-", "")
    if len(cell) == 20 and cell[19] in "Ff" and cell[:19].isdigit():
        cell = cell[:19]
    for i, ch in enumerate(cell):
        if not ("0" <= ch <= "9"):
            return cell, "invalid_characters", (
                f"character {i + 1} is {describe(ch)}; an ICCID holds only the digits 0-9")
    if len(cell) not in (19, 20):
        return cell, "invalid_length", f"the ICCID has {len(cell)} digits; it must have 19 or 20"
    if not cell.startswith("89"):
        return cell, "invalid_prefix", (
            "the ICCID does not start with 89, the telecom industry identifier")
    if cell.startswith("8942424242"):
        return cell, "", "Gigs test SIM: the check digit is not enforced for test SIMs"
    if luhn.is_valid(cell):
        return cell, "", ""
    if set(cell[15:]) == {"0"}:
        return cell, "rounded_by_spreadsheet", (
            "every digit after the 15th is 0 and the check digit fails: a spreadsheet "
            "kept only 15 significant digits; re-export the column formatted as text")
    expected = luhn.calc_check_digit(cell[:-1])
    return cell, "invalid_check_digit", (
        f"the Luhn check digit is {cell[-1]} but {expected} was expected; "
        "check the ICCID for a mistyped digit")


def main(manifest, results):
    with open(manifest, newline="", encoding="utf-8-sig") as src, \
            open(results, "w", newline="", encoding="utf-8") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        header = next(reader)
        keys = ["".join(c for c in h.lower() if c.isalnum()) for h in header]
        column = next(keys.index(a) for a in ALIASES if a in keys)
        others = [i for i in range(len(header)) if i != column]
        writer.writerow(["line", "iccid", "outcome", "reason", "message", "sim_id", "plan_id",
                         "user_id", "subscription_id"] + [header[i] for i in others])
        seen = {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            iccid, reason, message = check(row[column] if column < len(row) else "")
            if reason == "":
                first = seen.setdefault(iccid, line)
                if first != line:
                    reason = "duplicate"
                    message = f"the same ICCID already appears on line {first}"
            outcome = "invalid" if reason else "valid"
            extra = [row[i] if i < len(row) else "" for i in others]
            writer.writerow([neutralise(c) for c in
                             [str(line), iccid, outcome, reason, message, "", "", "", ""] + extra])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
