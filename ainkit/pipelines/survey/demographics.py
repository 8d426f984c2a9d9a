"""The survey's two demographic questions: country (Figure 7) and MSA or dialect (Figure 9).

Countries are the 22 member states of the League of Arab States (Syria's seat, suspended in 2011, was
restored in 2023), ISO 3166 alpha-2 codes, with English and Arabic names; 'XX' is any other country.
The four MSA/dialect options are the report's Figure 9 options, in its order and keyed by the labels
ainkit.reproduction.paper uses (tests/test_paper.py checks both), so responses plot against the published shares directly.
"""
from __future__ import annotations

ARAB_LEAGUE: dict[str, tuple[str, str]] = {
    "DZ": ("Algeria", "الجزائر"), "BH": ("Bahrain", "البحرين"), "KM": ("Comoros", "جزر القمر"),
    "DJ": ("Djibouti", "جيبوتي"), "EG": ("Egypt", "مصر"), "IQ": ("Iraq", "العراق"), "JO": ("Jordan", "الأردن"),
    "KW": ("Kuwait", "الكويت"), "LB": ("Lebanon", "لبنان"), "LY": ("Libya", "ليبيا"),
    "MR": ("Mauritania", "موريتانيا"), "MA": ("Morocco", "المغرب"), "OM": ("Oman", "عُمان"),
    "PS": ("Palestine", "فلسطين"), "QA": ("Qatar", "قطر"), "SA": ("Saudi Arabia", "السعودية"),
    "SO": ("Somalia", "الصومال"), "SD": ("Sudan", "السودان"), "SY": ("Syria", "سوريا"), "TN": ("Tunisia", "تونس"),
    "AE": ("UAE", "الإمارات"), "YE": ("Yemen", "اليمن"),
}
OTHER_COUNTRY = {"XX": ("Other country", "بلد آخر")}
COUNTRIES = {**ARAB_LEAGUE, **OTHER_COUNTRY}

MSA_QUESTION = ("Did you encounter any difficulty in reading and answering the questions in Modern Standard Arabic (MSA), "
                "or would you find it easier if the questions were presented in your own Arabic dialect?",
                "هل واجهت صعوبة في قراءة الأسئلة والإجابة عنها بالعربية الفصحى، أم كان الأسهل لو عُرضت بلهجتك المحلية؟")
MSA_OPTIONS_EN = {  # the survey's wording (report, Figure 6), keyed by the Figure 9 labels, in its order
    "MSA clear; prefer MSA": "No, it was clear and easy to understand; I prefer MSA for reading and writing.",
    "MSA fine; prefer own dialect": "No, it was fine, but I prefer my own Arabic dialect.",
    "MSA challenging; prefer own dialect": "Yes, it was challenging to use MSA, and I prefer my own Arabic dialect.",
    "Difficulty unrelated to dialect": "Yes, the difficulty was unrelated to dialect.",
}


MSA_OPTIONS_AR = {  # the kit's Arabic rendering of the same four options
    "MSA clear; prefer MSA": "لا، كانت واضحة وسهلة الفهم؛ أفضّل الفصحى في القراءة والكتابة.",
    "MSA fine; prefer own dialect": "لا، كانت مقبولة، لكني أفضّل لهجتي العربية.",
    "MSA challenging; prefer own dialect": "نعم، كان استخدام الفصحى صعبًا، وأفضّل لهجتي العربية.",
    "Difficulty unrelated to dialect": "نعم، لكن الصعوبة لا تتعلق باللهجة.",
}


def msa_options() -> dict[str, tuple[str, str]]:
    """Figure 9 label -> (English wording, Arabic wording), in the report's order."""
    return {k: (MSA_OPTIONS_EN[k], MSA_OPTIONS_AR[k]) for k in MSA_OPTIONS_EN}


def country_label(code: str) -> str:
    """'English · العربية' for a country code; the code itself when unknown."""
    en, ar = COUNTRIES.get(code, (code, ""))
    return f"{en} · {ar}" if ar else en
