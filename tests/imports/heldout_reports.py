"""Lab reports in other layouts than lab_reports.py, written after the parser was finished:
a check that it did not just learn the first three pages. Each line is as printed; `expected`
holds (loinc, value, ucum, low, high, flag) in the same order."""

from __future__ import annotations

from dataclasses import dataclass

Expected = tuple[str | None, float, str | None, float | None, float | None, str | None]


@dataclass(frozen=True)
class HeldOut:
    language: str
    text: str
    expected: tuple[Expected, ...]


ENGLISH = HeldOut(
    language="en",
    text="""St. Mary's Medical Centre, Pathology Services
CUMULATIVE LABORATORY RESULTS
Name: SMITH, Anna    DOB: 02/09/1990    MRN 00912871
Collected: 2024-11-18 08:10    Reported: 2024-11-18 14:32

FULL BLOOD COUNT
Haemoglobin: 11.2 g/dL (ref. 12.0-15.5) L
WBC: 7.4 x10^9/L (ref. 4.0-11.0)
Platelets: 455 x10^9/L (ref. 150-450) H
MCH: 27.1 pg (ref. 27.0-33.0)

BIOCHEMISTRY
Sodium: 133 mmol/L (ref. 135-145) L
Potassium: 4.1 mmol/L (ref. 3.5-5.3)
Urea: 9.8 mmol/L (ref. 2.5-7.8) H
Creatinine: 71 umol/L (ref. 45-84)
eGFR: >90 mL/min/1.73m2
ALP: 160 IU/L (ref. 30-130) H
Albumin: 38 g/L (ref. 35-50)
Ferritin: 8 ug/L (ref. 13-150) L

Comments: iron deficiency pattern. Please repeat FBC in 6 weeks.
""",
    expected=(
        ("718-7", 11.2, "g/dL", 12.0, 15.5, "L"),
        ("6690-2", 7.4, "10*9/L", 4.0, 11.0, "N"),
        ("777-3", 455.0, "10*9/L", 150.0, 450.0, "H"),
        ("785-6", 27.1, "pg", 27.0, 33.0, "N"),
        ("2951-2", 133.0, "mmol/L", 135.0, 145.0, "L"),
        ("2823-3", 4.1, "mmol/L", 3.5, 5.3, "N"),
        ("22664-7", 9.8, "mmol/L", 2.5, 7.8, "H"),
        ("14682-9", 71.0, "umol/L", 45.0, 84.0, "N"),
        ("62238-1", 90.0, "mL/min/{1.73_m2}", None, None, None),  # ">90": no range, no flag
        ("6768-6", 160.0, "[IU]/L", 30.0, 130.0, "H"),
        ("1751-7", 38.0, "g/L", 35.0, 50.0, "N"),
        ("2276-4", 8.0, "ug/L", 13.0, 150.0, "L"),
    ),
)

CZECH = HeldOut(
    language="cs",
    text="""Nemocnice Dolní Újezd, a.s. - Laboratoř klinické biochemie
Výsledkový list   Rodné číslo: 785612/1234   Pacientka: Marie Dvořáková
Datum a čas odběru: 7. 10. 2024 7:30   Tisk: 8. 10. 2024

B_Krevní obraz
B_Leukocyty 12,9 10^9/l (4,0-10,0) *
B_Erytrocyty 4,61 10^12/l (3,80-5,20)
B_Hemoglobin 131 g/l (120-160)
B_Hematokrit 0,395 (0,350-0,470)
B_Trombocyty 298 10^9/l (150-400)

S_Biochemie
S_Na 139 mmol/l (136-146)
S_K 5,4 mmol/l (3,5-5,1) *
S_Cl 101 mmol/l (97-108)
S_Glukóza 7,8 mmol/l (3,3-5,6) *
S_Kreatinin 65 µmol/l (44-104)
S_CRP 48,6 mg/l (0,0-5,0) *
S_TSH 3,12 mIU/l (0,35-4,94)

Hodnoty označené * jsou mimo referenční meze.
""",
    expected=(
        ("6690-2", 12.9, "10*9/L", 4.0, 10.0, "H"),
        ("789-8", 4.61, "10*12/L", 3.80, 5.20, "N"),
        ("718-7", 131.0, "g/L", 120.0, 160.0, "N"),
        ("4544-3", 0.395, None, 0.350, 0.470, "N"),  # a fraction printed without a unit
        ("777-3", 298.0, "10*9/L", 150.0, 400.0, "N"),
        ("2951-2", 139.0, "mmol/L", 136.0, 146.0, "N"),
        ("2823-3", 5.4, "mmol/L", 3.5, 5.1, "H"),
        ("2075-0", 101.0, "mmol/L", 97.0, 108.0, "N"),
        ("14749-6", 7.8, "mmol/L", 3.3, 5.6, "H"),
        ("14682-9", 65.0, "umol/L", 44.0, 104.0, "N"),
        ("1988-5", 48.6, "mg/L", 0.0, 5.0, "H"),
        ("3016-3", 3.12, "m[IU]/L", 0.35, 4.94, "N"),
    ),
)

GERMAN = HeldOut(
    language="de",
    text="""Gemeinschaftspraxis für Laboratoriumsmedizin Nord
Befundbericht   Pat.: Müller, Sabine   geb. 03.04.1972
Probeneingang: 14.03.2024   Endbefund vom 15.03.2024

Parameter            Ergebnis   Einheit    Referenz
Leukozyten           6,1        /nl        3,9 - 10,2
Erythrozyten         3,9   -    /pl        4,1 - 5,1
Hämoglobin           11,8  -    g/dl       12,3 - 15,3
Thrombozyten         251        /nl        150 - 370
Natrium              141        mmol/l     135 - 145
Kalium               3,2   -    mmol/l     3,5 - 5,1
Kreatinin            0,81       mg/dl      0,50 - 0,90
Harnsäure            5,0        mg/dl      2,4 - 5,7
GPT (ALT)            58    +    U/l        < 35
GOT (AST)            41    +    U/l        < 35
Gamma-GT             29         U/l        < 40
Cholesterin          231   +    mg/dl      < 200
Ferritin             35         ng/ml      15 - 150

+ = erhöht, - = erniedrigt
""",
    expected=(
        ("6690-2", 6.1, "/nL", 3.9, 10.2, "N"),
        ("789-8", 3.9, "/pL", 4.1, 5.1, "L"),
        ("718-7", 11.8, "g/dL", 12.3, 15.3, "L"),
        ("777-3", 251.0, "/nL", 150.0, 370.0, "N"),
        ("2951-2", 141.0, "mmol/L", 135.0, 145.0, "N"),
        ("2823-3", 3.2, "mmol/L", 3.5, 5.1, "L"),
        ("2160-0", 0.81, "mg/dL", 0.50, 0.90, "N"),
        ("3084-1", 5.0, "mg/dL", 2.4, 5.7, "N"),
        ("1742-6", 58.0, "U/L", None, 35.0, "H"),
        ("1920-8", 41.0, "U/L", None, 35.0, "H"),
        ("2324-2", 29.0, "U/L", None, 40.0, "N"),
        ("2093-3", 231.0, "mg/dL", None, 200.0, "H"),
        ("2276-4", 35.0, "ng/mL", 15.0, 150.0, "N"),
    ),
)

HELD_OUT = {"en": ENGLISH, "cs": CZECH, "de": GERMAN}
