"""Vital signs in running text (en/cs/de): label + value + required unit, LOINC, UCUM, FHIR."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle

from imports_app.fhir import UCUM, is_ucum
from imports_app.local import analyze_local

NOTES = {
    "en": (
        "Emergency department note\nPatient: Tom Reed\nDate: 09.05.2024\n"
        "Vital signs: BP 135/85 mmHg, pulse 72/min, temperature 36.8 °C, SpO2 97 %, RR 16/min\n"
        "Weight 82 kg, height 178 cm, BMI 25.9\nNo acute distress. Patient seen by Dr. Gray.",
        [("systolic", "135", "mm[Hg]"), ("diastolic", "85", "mm[Hg]"),
         ("resting_heart_rate", "72", "/min"), ("temperature", "36.8", "Cel"),
         ("oxygen_saturation", "97", "%"), ("respiratory_rate", "16", "/min"),
         ("weight", "82", "kg"), ("height", "178", "cm"), ("bmi", "25.9", "kg/m2")],
    ),
    "cs": (
        "Ambulantní zpráva\nPacient: Jan Novák\nDatum vyšetření: 3. 4. 2024\n"
        "Objektivně: TK 150/95, TF 88/min, TT 37,9 °C, saturace 95 %, hmotnost 70,5 kg\n"
        "Závěr: hypertenze, kontrola za 14 dní. MUDr. Petra Malá",
        [("systolic", "150", "mm[Hg]"), ("diastolic", "95", "mm[Hg]"),
         ("resting_heart_rate", "88", "/min"), ("temperature", "37.9", "Cel"),
         ("oxygen_saturation", "95", "%"), ("weight", "70.5", "kg")],
    ),
    "de": (
        "Arztbrief\nPatient: Peter Braun\nUntersuchung am 12.06.2024\n"
        "Befund: RR 120/80 mmHg, Puls 64/min, Temperatur 36,5 °C, Gewicht 90 kg, Größe 185 cm\n"
        "Beurteilung: unauffälliger Befund. Dr. med. Eva Lang",
        [("systolic", "120", "mm[Hg]"), ("diastolic", "80", "mm[Hg]"),
         ("resting_heart_rate", "64", "/min"), ("temperature", "36.5", "Cel"),
         ("weight", "90", "kg"), ("height", "185", "cm")],
    ),
}  # fmt: skip
VITAL_LOINC = {
    "systolic": "8480-6", "diastolic": "8462-4", "resting_heart_rate": "8867-4",
    "temperature": "8310-5", "oxygen_saturation": "59408-5", "respiratory_rate": "9279-1",
    "weight": "29463-7", "height": "8302-2", "bmi": "39156-5",
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(NOTES))
def test_vital_signs_are_read_with_their_units(language: str) -> None:
    text, expected = NOTES[language]
    analysis = analyze_local(text=text, language=language)
    got = [(s["signal"], s["value"], s["ucum"]) for s in analysis["signals"]]
    assert got == expected
    assert analysis["hasLabOrVitals"] is True
    for signal in analysis["signals"]:
        assert signal["observationCategory"] == "vital-signs"
        assert "labCategory" not in signal
        assert signal["flag"] is None  # no reference range printed, none invented
        assert signal["loinc"] == VITAL_LOINC[signal["signal"]]
        assert is_ucum(signal["ucum"])
        assert signal["valueText"] in signal["evidence"]["text"]


@pytest.mark.parametrize("language", sorted(NOTES))
def test_vital_signs_become_vital_signs_observations(language: str) -> None:
    text, expected = NOTES[language]
    bundle = analyze_local(text=text, language=language)["fhir"]
    Bundle.model_validate(bundle)
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert len(observations) == len(expected)
    for observation, (key, value, ucum) in zip(observations, expected, strict=True):
        assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
        assert observation["code"]["coding"][0]["code"] == VITAL_LOINC[key]
        quantity = observation["valueQuantity"]
        assert (quantity["value"], quantity["system"], quantity["code"]) == (
            float(value),
            UCUM,
            ucum,
        )
        assert "interpretation" not in observation


def test_labels_without_their_units_are_not_vital_signs() -> None:
    text = "P 72\nT 36\nWeight loss over 3 months\nTK byl měřen 2x\nRR protokol 12\nBMI normal"
    assert analyze_local(text=text, language=None)["signals"] == []
