//! Public holidays, for closing opening hours on them.
//!
//! France has eleven public holidays (Code du travail, art. L3133-1): eight on fixed dates and
//! three that move with Easter (Easter Monday, Ascension Thursday, Whit Monday). Alsace and
//! Moselle add Good Friday and 26 December; a site there adds them with
//! [`crate::hours::OpeningHoursBuilder::closed_on`].

use jiff::Span;
use jiff::civil::Date;

/// A public holiday: its date and its French name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Holiday {
    /// The day off.
    pub date: Date,
    /// Its usual French name (`"Lundi de Pâques"`), for logs and the admin console.
    pub name: &'static str,
}

/// Gregorian Easter Sunday of `year`, by the anonymous algorithm (Meeus/Jones/Butcher), valid
/// for every Gregorian year; `None` outside 1583..=9999.
#[must_use]
pub fn easter_sunday(year: i16) -> Option<Date> {
    if !(1583..=9999).contains(&year) {
        return None;
    }
    let y = i32::from(year);
    let golden = y % 19; // position in the 19-year Metonic cycle
    let (century, year_in_century) = (y / 100, y % 100);
    let leap_corr = century / 4; // century leap years skipped so far
    let moon_corr = (century + 8) / 25; // lunar orbit correction (Metonic drift)
    let moon = (century - moon_corr + 1) / 3;
    let epact = (19 * golden + century - leap_corr - moon + 15) % 30; // days to full moon
    let (quad, rem) = (year_in_century / 4, year_in_century % 4);
    let weekday = (32 + 2 * (century % 4) + 2 * quad - epact - rem) % 7; // days to Sunday
    let fix = (golden + 11 * epact + 22 * weekday) / 451; // the two exceptional cases
    let month = (epact + weekday - 7 * fix + 114) / 31;
    let day = (epact + weekday - 7 * fix + 114) % 31 + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

/// The eleven French public holidays of `year`, in date order; `None` outside 1583..=9999.
#[must_use]
pub fn french_public_holidays(year: i16) -> Option<[Holiday; 11]> {
    let easter = easter_sunday(year)?;
    let fixed = |month, day, name| {
        Some(Holiday {
            date: Date::new(year, month, day).ok()?,
            name,
        })
    };
    let after_easter = |days, name| {
        Some(Holiday {
            date: easter.checked_add(Span::new().days(days)).ok()?,
            name,
        })
    };
    let mut holidays = [
        fixed(1, 1, "Jour de l'an")?,
        after_easter(1, "Lundi de Pâques")?,
        fixed(5, 1, "Fête du Travail")?,
        fixed(5, 8, "Victoire 1945")?,
        after_easter(39, "Ascension")?,
        after_easter(50, "Lundi de Pentecôte")?,
        fixed(7, 14, "Fête nationale")?,
        fixed(8, 15, "Assomption")?,
        fixed(11, 1, "Toussaint")?,
        fixed(11, 11, "Armistice 1918")?,
        fixed(12, 25, "Noël")?,
    ];
    // Easter-based days can fall before or after 1 and 8 May.
    holidays.sort_unstable();
    Some(holidays)
}
