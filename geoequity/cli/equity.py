"""``geoequity equity``: inequality of one column (Gini, Theil T/L with decomposition, CV ...).

Example::

    geoequity equity cells.csv --value access --weight children --group district --json
    geoequity equity schools.csv --balance quality --level-col level --district-col county -o cv.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from geoequity._errors import input_error

def register(subparsers) -> None:
    """Add the ``equity`` subcommand."""
    p = subparsers.add_parser(
        "equity", help="inequality statistics of a column (Gini, Theil, CV, Palma) or the "
                       "school-resource balance evaluation",
        description="Weighted Gini, Theil T and L (with the between/within decomposition when "
                    "--group is given), coefficients of variation, max/min and Palma ratios of "
                    "one column of FILE. With --balance, evaluate school resources against "
                    "China's county-level balanced-education standards instead.",
        epilog="example: geoequity equity cells.csv --value access --weight children "
               "--group district --json")
    p.add_argument("file", metavar="FILE",
                   help="table or layer: CSV, Parquet, GeoPackage, GeoJSON, Shapefile ...")
    p.add_argument("--value", metavar="COL", help="column to measure (required unless "
                   "--balance)")
    p.add_argument("--weight", metavar="COL", help="weights, e.g. children or enrolment")
    p.add_argument("--group", metavar="COL",
                   help="groups for the Theil decomposition and per-group statistics")
    p.add_argument("--standard", type=float, metavar="X",
                   help="also report the weighted share with a value below X")
    p.add_argument("--beyond", type=float, metavar="X",
                   help="also report the weighted share with a value above X, counting "
                        "missing values as beyond (e.g. travel cost over the walking "
                        "threshold), overall and per group")
    p.add_argument("--rank", metavar="COL",
                   help="rank people by this column (income, housing price) for the "
                        "concentration index (standard and Erreygers-corrected)")
    p.add_argument("--bounds", metavar="A,B",
                   help="--rank: lower and upper bound of --value for the Erreygers index "
                        "(default: the observed minimum and maximum)")
    p.add_argument("--poverty-line", type=float, metavar="Z",
                   help="FGT0/1/2 (headcount, gap, severity) of --value below Z")
    p.add_argument("--lorenz", metavar="FILE", help="write the Lorenz curve points (CSV)")
    p.add_argument("--balance", choices=["basic", "quality", "operations"],
                   help="evaluate school-resource balance (2012 basic / 2017 quality), or "
                        "school operations (class size, school size, classrooms, teachers "
                        "and funding against their norms)")
    # column flags spelled as `geoequity report` spells them (--level-col ...); the older
    # spellings (--level, --district, --enrolment, --id, --type, --urban) stay as aliases
    p.add_argument("--level-col", "--level", dest="level", metavar="COL", default="level",
                   help="--balance: school level column (primary/junior/combined; default "
                        "level; also --level)")
    p.add_argument("--district-col", "--district", dest="district", metavar="COL",
                   help="--balance: county/district column (default: one county; also "
                        "--district)")
    p.add_argument("--enrolment-col", "--enrolment", dest="enrolment", metavar="COL",
                   default="enrolment", help="--balance: students per school (default "
                   "enrolment; also --enrolment)")
    p.add_argument("--school-id", "--id", dest="id", metavar="COL",
                   help="--balance: school id or name column (also --id)")
    p.add_argument("--type-col", "--type", metavar="COL", dest="type_col",
                   help="--balance: school type column (ordinary / 教学点 / 特殊教育学校 / "
                        "职业学校 ...): special and vocational schools and small teaching "
                        "points are left out of the resource evaluation, and listed (also "
                        "--type)")
    p.add_argument("--urban-col", "--urban", dest="urban", metavar="COL",
                   help="--balance operations: urban/rural class column, for per-class totals "
                        "(also --urban)")
    p.add_argument("--checklist", metavar="FILE",
                   help="--balance: the county's table of the other 2017 items (indicator, "
                        "value), checked against standards.toml")
    p.add_argument("--teachers", metavar="FILE",
                   help="--balance: a teacher table (eligible, rotated, backbone) for the "
                        "teacher-rotation items of the checklist")
    p.add_argument("--standards", metavar="TOML",
                   help="--balance: an edited copy of geoequity/data/standards.toml")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the result table (CSV): per-group statistics, or the balance "
                        "CV table")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=run)


def _column(df: pd.DataFrame, col: str | None, src: str, what: str) -> pd.Series | None:
    if col is None:
        return None
    if col not in df.columns:
        raise input_error(src, f"has no {what} column {col!r}",
                          f"choose one of: {', '.join(map(str, df.columns))}")
    s = df[col]
    if what != "group":
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise input_error(src, f"column {col!r} has text that is not a number "
                              f"(row {row + 1}: {s.iloc[row]!r})",
                              "clean the column or choose a numeric one")
        inf = num.notna() & ~np.isfinite(num.to_numpy(float))
        if inf.any():
            row = int(inf.to_numpy().nonzero()[0][0])
            raise input_error(src, f"column {col!r} is infinite in row {row + 1}",
                              "give finite numbers (blank = missing)")
        if what == "weight" and (num < 0).any():
            row = int((num < 0).to_numpy().nonzero()[0][0])
            raise input_error(src, f"weight column {col!r} is negative ({num.iloc[row]:g}) in "
                              f"row {row + 1}", "weights count people: 0 or more")
        return num
    return s


def run(args: argparse.Namespace) -> int:
    from geoequity.cli._common import print_json
    from geoequity.equity import inequality_summary, lorenz_curve, share_above, share_below
    from geoequity.io.tables import read_attributes

    df = read_attributes(args.file, text_cols=(args.id,))
    if args.balance:
        return _run_balance(args, df)
    if not args.value:
        raise input_error(args.file, "no --value column named",
                          f"choose one of: {', '.join(map(str, df.columns))}")
    values = _column(df, args.value, args.file, "value")
    weights = _column(df, args.weight, args.file, "weight")
    groups = _column(df, args.group, args.file, "group")
    out = inequality_summary(values, weights, groups)
    out = {"value": args.value, "weight": args.weight, "group": args.group, **out}
    if args.standard is not None:
        out["standard"] = args.standard
        out["share_below"] = share_below(values, args.standard, weights)
    if args.beyond is not None:
        out["beyond"] = args.beyond
        out["share_beyond"] = share_above(values, args.beyond, weights, missing="above")
        if groups is not None:
            labels = groups.astype(str).where(groups.notna())
            for g in sorted(labels.dropna().unique()):
                m = (labels == g).to_numpy()
                d = out.setdefault("groups", {}).setdefault(g, {"n": 0})
                d["share_beyond"] = share_above(values[m], args.beyond,
                                                None if weights is None else weights[m],
                                                missing="above")
    if args.rank or args.poverty_line is not None or args.bounds:
        out.update(_socioeconomic(args, df, values, weights))
    if args.lorenz:
        from geoequity._atomic import write_text

        write_text(args.lorenz, lorenz_curve(values, weights).to_csv(index=False))
    if args.output:
        _write_groups(out, args.output)
    if args.json:
        print_json(out)
    else:
        _print_text(out)
    return 0


def _socioeconomic(args: argparse.Namespace, df: pd.DataFrame, values: pd.Series,
                   weights: pd.Series | None) -> dict:
    from geoequity.equity import socioeconomic_summary

    if args.bounds and not args.rank:
        raise input_error("--bounds", "bounds are for the Erreygers concentration index",
                          "add --rank COL (income or housing price), or drop --bounds")
    bounds = None
    if args.bounds:
        try:
            a, b = (float(x) for x in args.bounds.split(","))
        except ValueError:
            raise input_error("--bounds", f"{args.bounds!r} is not two numbers A,B",
                              "give the lower and upper bound, e.g. --bounds 0,1") from None
        if not (np.isfinite(a) and np.isfinite(b) and a < b):
            raise input_error("--bounds", f"{args.bounds!r} is not an increasing pair",
                              "give the lower then the upper bound, e.g. --bounds 0,1")
        bounds = (a, b)
    if args.poverty_line is not None and args.poverty_line <= 0:
        raise input_error("--poverty-line", f"{args.poverty_line:g} is not above 0",
                          "give the line in the unit of --value, e.g. --poverty-line 0.8")
    rank = _column(df, args.rank, args.file, "rank")
    return socioeconomic_summary(values, weights, rank=rank, poverty_line=args.poverty_line,
                                 bounds=bounds)


def _write_groups(out: dict, path: str) -> None:
    from geoequity._atomic import write_text

    keys = ["n", "n_missing", "weight_total", "mean", "min", "max", "gini", "theil_t", "theil_l",
            "cv", "cv_weighted", "max_min_ratio", "palma_ratio", "share_beyond"]
    rows = [{"group": "all", **{k: out.get(k) for k in keys}}]
    for g, d in (out.get("groups") or {}).items():
        rows.append({"group": g, **d})
    write_text(path, "\ufeff" + pd.DataFrame(rows).to_csv(index=False))


def _print_text(out: dict) -> None:
    def f(v):
        return "n/a" if v is None or v != v else f"{v:.4g}" if isinstance(v, float) else str(v)

    print(f"{out['value']}: {out['n']} values ({out['n_missing']} missing)"
          + (f", weighted by {out['weight']} (total {f(out['weight_total'])})"
             if out["weight"] else ""))
    for k in ("mean", "min", "max", "gini", "theil_t", "theil_l", "cv", "cv_weighted",
              "max_min_ratio", "palma_ratio", "share_below", "share_beyond",
              "concentration_index", "concentration_index_erreygers", "fgt0", "fgt1", "fgt2"):
        if k in out:
            print(f"  {k:<16}{f(out[k])}")
    if "theil_between" in out:
        t = out["theil_t"]
        share = out["theil_between"] / t if t else float("nan")
        print(f"  theil_between   {f(out['theil_between'])}  ({f(100 * share)} % of Theil T, "
              f"by {out['group']})")
        print(f"  theil_within    {f(out['theil_within'])}")
        print(f"  {'group':<20}{'n':>8}{'weight':>12}{'mean':>12}{'gini':>9}{'cv_w':>9}")
        for g, d in out["groups"].items():
            print(f"  {g:<20}{d['n']:>8}{f(d['weight_total']):>12}{f(d['mean']):>12}"
                  f"{f(d['gini']):>9}{f(d['cv_weighted']):>9}")


def _run_balance(args: argparse.Namespace, df: pd.DataFrame) -> int:
    from geoequity.balance import evaluate_balance
    from geoequity.cli._common import print_json

    if args.id:
        if args.id not in df.columns:
            raise input_error(args.file, f"has no id column {args.id!r}",
                              f"choose one of: {', '.join(map(str, df.columns))}")
        df = df.set_index(args.id)
        df.attrs["source"] = args.file
    if args.balance == "operations":
        return _run_operations(args, df)
    res = evaluate_balance(df, standard=args.balance, level_col=args.level,
                           district_col=args.district, enrolment_col=args.enrolment,
                           standards=args.standards, type_col=args.type_col)
    checklist = _checklist(args, df)
    if args.output:
        from geoequity._atomic import write_text

        write_text(args.output, "\ufeff" + res.cv_table.to_csv(index=False))
    if args.json:
        print_json({"standard": res.standard, "passed": res.passed,
                    "summary": res.summary.to_dict(orient="records"),
                    "cv": res.cv_table.to_dict(orient="records"),
                    "drivers": res.drivers.to_dict(orient="records"),
                    "failing_schools": res.failing_schools.rename_axis("school")
                    .reset_index().to_dict(orient="records"),
                    "excluded": res.excluded.rename_axis("school").reset_index()
                    .to_dict(orient="records"),
                    **({"checklist": checklist.table.to_dict(orient="records"),
                        "checklist_passed": checklist.passed} if checklist else {}),
                    "notes": res.notes + (checklist.notes if checklist else [])})
        return 0
    for r in res.summary.itertuples():
        verdict = "PASS" if r.passed else "FAIL"
        print(f"{r.district} {r.level}: {r.n_schools} schools, composite CV "
              f"{r.cv_composite:.3f}, max CV {r.cv_max:.3f} (limit {r.threshold:g}) {verdict}"
              + (f"  failing: {r.failing_indicators}" if r.failing_indicators else ""))
    fs = res.failing_schools
    if len(fs):
        print("schools:")
        for school, r in fs.iterrows():
            print(f"  {school} ({r['district']}, {r['level']}): {r['reason']}")
    if len(res.excluded):
        print("left out:")
        for school, r in res.excluded.iterrows():
            print(f"  {school} ({r['type'] or r['level']}): {r['reason']}")
    if checklist is not None:
        _print_checklist(checklist)
    for n in res.notes:
        print(f"note: {n}")
    return 0


def _operations(args: argparse.Namespace, df: pd.DataFrame):
    """The school operations of the table (None when it has no classes column)."""
    from geoequity.operations import OPERATION_COLUMNS, school_operations

    if args.balance != "operations" and not any(
            c in df.columns for c in ("classes", *OPERATION_COLUMNS["classes"])):
        return None
    return school_operations(df, level_col=args.level, district_col=args.district,
                             urban_col=args.urban, type_col=args.type_col,
                             columns={"enrolment": args.enrolment}
                             if args.enrolment in df.columns else None,
                             standards=args.standards)


def _checklist(args: argparse.Namespace, df: pd.DataFrame, ops=None):
    """The 2017 checklist when --checklist or --teachers is given."""
    if not (args.checklist or args.teachers):
        return None
    from geoequity.checklist import evaluate_checklist

    return evaluate_checklist(args.checklist, operations=ops or _operations(args, df),
                              teachers=args.teachers, standards=args.standards)


def _print_checklist(checklist) -> None:
    print("2017 checklist:")
    for r in checklist.table.itertuples():
        verdict = {True: "PASS", False: "FAIL"}.get(r.passed, "missing")
        val = "" if r.source == "missing" else f" = {r.value:.4g}" if isinstance(
            r.value, float) else f" = {r.value}"
        print(f"  {r.group} {r.item} {r.key}{val} ({r.source}) {verdict}"
              + (f"  [{r.detail}]" if r.detail else ""))
    for n in checklist.notes:
        print(f"note: {n}")


def _run_operations(args: argparse.Namespace, df: pd.DataFrame) -> int:
    from geoequity.cli._common import print_json

    ops = _operations(args, df)
    checklist = _checklist(args, df, ops)
    if args.output:
        from geoequity._atomic import write_text

        write_text(args.output, "\ufeff" + ops.schools.reset_index().to_csv(index=False))
    if args.json:
        print_json({"schools": ops.schools.reset_index().to_dict(orient="records"),
                    "summary": ops.summary.to_dict(orient="records"),
                    **({"checklist": checklist.table.to_dict(orient="records")}
                       if checklist else {}),
                    "notes": ops.notes + (checklist.notes if checklist else [])})
        return 0

    def f(v, pct=False):
        return "n/a" if v is None or v != v else f"{100 * v:.1f} %" if pct else f"{v:.4g}"

    for r in ops.summary.itertuples():
        print(f"{r.grouping} {r.group}: {r.schools} schools, {f(r.enrolment)} pupils in "
              f"{f(r.classes)} classes (mean {f(r.class_size)}); over limit "
              f"{f(r.share_over_limit, 1)}, "
              f"大班额 {f(r.share_large, 1)}, 超大班额 {f(r.share_very_large, 1)}; "
              f"{r.schools_over_size} over size; rooms needed {f(r.rooms_needed)} (short "
              f"{f(r.rooms_short)}); teachers needed {f(r.teachers_needed)} (short "
              f"{f(r.teachers_short)}); funds/pupil {f(r.funds_per_pupil)} "
              f"({r.schools_below_funding} below standard)")
    if checklist is not None:
        _print_checklist(checklist)
    for n in ops.notes:
        print(f"note: {n}")
    return 0
