"""Realistic lab reports in English, Czech and German (written for these tests), with the truth.

Each report is rendered from one table, so the plain text, the PDF and the photographed page
all carry exactly the values in `expected`. Patients and labs are invented.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

# (name as printed, value as printed, flag printed or "", unit as printed, range as printed,
#  expected: loinc, ucum, low, high, flag)
Row = tuple[str, str, str, str, str, str | None, str, float | None, float | None, str]


@dataclass(frozen=True)
class Report:
    language: str
    heading: str
    header_lines: tuple[str, ...]
    columns: tuple[str, str, str, str, str]
    rows: tuple[Row, ...]
    footer_lines: tuple[str, ...]
    date: str

    def text(self) -> str:
        lines = [self.heading, *self.header_lines, "", "  ".join(self.columns)]
        for name, value, flag, unit, ref, *_ in self.rows:
            lines.append("  ".join(x for x in (name, value, flag, unit, ref) if x))
        return "\n".join([*lines, "", *self.footer_lines])

    def markdown(self) -> str:
        """The page as an AI OCR pass transcribes it: a markdown table, flags glued to values."""
        lines = [f"# {self.heading}", *self.header_lines, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "---|" * len(self.columns))
        for name, value, flag, unit, ref, *_ in self.rows:
            lines.append(f"| {name} | {value}{flag} | {unit} | {ref} |")
        return "\n".join([*lines, "", *self.footer_lines])

    def html(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(x)}</td>" for x in (n, v, f, u, r)) + "</tr>"
            for n, v, f, u, r, *_ in self.rows
        )
        header = "".join(f"<p>{esc(line)}</p>" for line in self.header_lines)
        footer = "".join(f"<p>{esc(line)}</p>" for line in self.footer_lines)
        return f"""<html><head><meta charset="utf-8"><style>
            @page {{ size: A4; margin: 18mm; }}
            body {{ font-family: 'DejaVu Sans', sans-serif; font-size: 11pt; }}
            h1 {{ font-size: 16pt; }} p {{ margin: 2px 0; }}
            table {{ border-collapse: collapse; margin-top: 10px; width: 100%; }}
            th, td {{ text-align: left; padding: 3px 10px 3px 0; }}
            th {{ border-bottom: 1px solid #000; }}
            </style></head><body><h1>{esc(self.heading)}</h1>{header}
            <table><tr>{head}</tr>{body}</table>{footer}</body></html>"""

    def expected(self) -> list[tuple[str | None, float, str, float | None, float | None, str]]:
        return [
            (loinc, float(value.replace(",", ".").lstrip("<> ")), ucum, low, high, flag)
            for _, value, _, _, _, loinc, ucum, low, high, flag in self.rows
        ]


ENGLISH = Report(
    language="en",
    heading="Laboratory Report",
    header_lines=(
        "Riverside General Hospital - Department of Clinical Biochemistry",
        "Patient: John Carter   Date of birth: 14.07.1968   Patient ID: 4471-220",
        "Requesting physician: Dr. Emily Stone",
        "Sample collected: 03.03.2025 07:45   Report date: 04.03.2025",
    ),
    columns=("Test", "Result", "Flag", "Units", "Reference range"),
    rows=(
        ("Hemoglobin", "128", "L", "g/L", "135 - 175", "718-7", "g/L", 135, 175, "L"),
        ("Hematocrit", "0.39", "L", "L/L", "0.40 - 0.52", "4544-3", "L/L", 0.40, 0.52, "L"),
        (
            "White blood cells",
            "11.8",
            "H",
            "10^9/L",
            "4.0 - 10.0",
            "6690-2",
            "10*9/L",
            4.0,
            10.0,
            "H",
        ),
        ("Platelets", "245", "", "10^9/L", "150 - 400", "777-3", "10*9/L", 150, 400, "N"),
        ("MCV", "84", "", "fL", "80 - 100", "787-2", "fL", 80, 100, "N"),
        ("Glucose", "7.2", "H", "mmol/L", "3.9 - 5.6", "14749-6", "mmol/L", 3.9, 5.6, "H"),
        ("Creatinine", "98", "", "umol/L", "62 - 106", "14682-9", "umol/L", 62, 106, "N"),
        ("Sodium", "138", "", "mmol/L", "136 - 145", "2951-2", "mmol/L", 136, 145, "N"),
        ("Potassium", "5.6", "H", "mmol/L", "3.5 - 5.1", "2823-3", "mmol/L", 3.5, 5.1, "H"),
        ("Total cholesterol", "6.1", "H", "mmol/L", "< 5.0", "14647-2", "mmol/L", None, 5.0, "H"),
        ("ALT", "34", "", "U/L", "7 - 56", "1742-6", "U/L", 7, 56, "N"),
        ("C-reactive protein", "12.4", "H", "mg/L", "< 5.0", "1988-5", "mg/L", None, 5.0, "H"),
        ("TSH", "2.15", "", "mIU/L", "0.27 - 4.20", "3016-3", "m[IU]/L", 0.27, 4.20, "N"),
        ("HbA1c", "6.4", "H", "%", "4.0 - 5.6", "4548-4", "%", 4.0, 5.6, "H"),
    ),
    footer_lines=(
        "Comment: elevated glucose and HbA1c, repeat fasting test advised.",
        "Validated by: Dr. Mark Hale, clinical biochemist. Page 1 of 1",
    ),
    date="2025-03-03",
)

CZECH = Report(
    language="cs",
    heading="Laboratorní výsledky",
    header_lines=(
        "Fakultní nemocnice Horní Lhota - Oddělení klinické biochemie a hematologie",
        "Pacient: Jana Nováková   Datum narození: 2. 5. 1981   Pojišťovna: 111",
        "Odesílající lékař: MUDr. Petr Svoboda",
        "Datum odběru: 12.02.2025   Datum vydání výsledku: 12.02.2025",
    ),
    columns=("Vyšetření", "Výsledek", "", "Jednotka", "Referenční meze"),
    rows=(
        ("Hemoglobin", "118", "", "g/l", "120 - 160", "718-7", "g/L", 120, 160, "L"),
        ("Erytrocyty", "4,05", "", "10^12/l", "3,80 - 5,20", "789-8", "10*12/L", 3.80, 5.20, "N"),
        ("Leukocyty", "6,3", "", "10^9/l", "4,0 - 10,0", "6690-2", "10*9/L", 4.0, 10.0, "N"),
        ("Trombocyty", "412", "", "10^9/l", "150 - 400", "777-3", "10*9/L", 150, 400, "H"),
        ("S-Glukóza", "5,1", "", "mmol/l", "3,9 - 5,6", "14749-6", "mmol/L", 3.9, 5.6, "N"),
        ("S-Kreatinin", "112", "", "µmol/l", "44 - 104", "14682-9", "umol/L", 44, 104, "H"),
        ("S-Urea", "6,8", "", "mmol/l", "2,8 - 8,0", "22664-7", "mmol/L", 2.8, 8.0, "N"),
        ("S-Kyselina močová", "402", "", "µmol/l", "140 - 340", "14933-6", "umol/L", 140, 340, "H"),
        ("S-Sodík", "141", "", "mmol/l", "136 - 146", "2951-2", "mmol/L", 136, 146, "N"),
        ("S-Draslík", "3,3", "", "mmol/l", "3,5 - 5,1", "2823-3", "mmol/L", 3.5, 5.1, "L"),
        ("S-Bilirubin celkový", "14", "", "µmol/l", "2 - 17", "14631-6", "umol/L", 2, 17, "N"),
        ("S-ALT", "0,95", "", "µkat/l", "0,10 - 0,78", "1742-6", "ukat/L", 0.10, 0.78, "H"),
        ("S-CRP", "3,2", "", "mg/l", "0 - 5", "1988-5", "mg/L", 0, 5, "N"),
        ("S-Feritin", "9", "", "µg/l", "15 - 150", "2276-4", "ug/L", 15, 150, "L"),
    ),
    footer_lines=(
        "Výsledky mimo referenční meze jsou vyznačeny. Nález konzultujte s ošetřujícím lékařem.",
        "Schválil: RNDr. Eva Malá, Ph.D.   Strana 1/1",
    ),
    date="2025-02-12",
)

GERMAN = Report(
    language="de",
    heading="Laborbefund",
    header_lines=(
        "Labor Dr. Weber & Kollegen - Klinische Chemie und Hämatologie",
        "Patient: Klaus Becker   geb. 21.11.1959   Auftragsnummer: 25-118734",
        "Einsender: Praxis Dr. med. Anna Schulz",
        "Entnahme: 27.01.2025   Befunddatum: 28.01.2025",
    ),
    columns=("Untersuchung", "Ergebnis", "", "Einheit", "Referenzbereich"),
    rows=(
        ("Hämoglobin", "14,9", "", "g/dl", "13,5 - 17,5", "718-7", "g/dL", 13.5, 17.5, "N"),
        ("Leukozyten", "3,2", "L", "Tsd/µl", "4,0 - 10,0", "6690-2", "10*3/uL", 4.0, 10.0, "L"),
        ("Thrombozyten", "198", "", "Tsd/µl", "150 - 400", "777-3", "10*3/uL", 150, 400, "N"),
        ("Glukose", "112", "H", "mg/dl", "70 - 99", "2345-7", "mg/dL", 70, 99, "H"),
        ("Kreatinin", "1,42", "H", "mg/dl", "0,70 - 1,20", "2160-0", "mg/dL", 0.70, 1.20, "H"),
        ("Harnstoff", "38", "", "mg/dl", "17 - 43", "3091-6", "mg/dL", 17, 43, "N"),
        ("Harnsäure", "8,1", "H", "mg/dl", "3,4 - 7,0", "3084-1", "mg/dL", 3.4, 7.0, "H"),
        ("Kalium", "4,4", "", "mmol/l", "3,5 - 5,1", "2823-3", "mmol/L", 3.5, 5.1, "N"),
        ("Gesamtcholesterin", "242", "H", "mg/dl", "< 200", "2093-3", "mg/dL", None, 200, "H"),
        ("HDL-Cholesterin", "38", "L", "mg/dl", "> 40", "2085-9", "mg/dL", 40, None, "L"),
        ("Triglyceride", "185", "H", "mg/dl", "< 150", "2571-8", "mg/dL", None, 150, "H"),
        ("Gamma-GT", "71", "H", "U/l", "< 60", "2324-2", "U/L", None, 60, "H"),
        ("CRP", "0,4", "", "mg/dl", "< 0,5", "1988-5", "mg/dL", None, 0.5, "N"),
        ("TSH basal", "1,84", "", "mU/l", "0,27 - 4,20", "3016-3", "mU/L", 0.27, 4.20, "N"),
    ),
    footer_lines=(
        "Auffällige Werte sind mit H (hoch) bzw. L (niedrig) gekennzeichnet.",
        "Medizinisch validiert: Dr. rer. nat. Jonas Hoffmann   Seite 1 von 1",
    ),
    date="2025-01-27",
)

REPORTS = {"en": ENGLISH, "cs": CZECH, "de": GERMAN}
