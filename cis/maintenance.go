package cis

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // maintenance slots are in Europe/London; work on machines without zoneinfo
)

// London is the zone CIS maintenance slots are published in.
const London = "Europe/London"

// MaintenanceSlot is a weekly window, in local time of a zone, during which
// an environment may be unavailable, e.g. "Mon 20:00-Tue 06:00".
type MaintenanceSlot struct {
	Name     string       // e.g. "Spine CIS"
	StartDay time.Weekday // day the slot starts
	Start    time.Duration
	EndDay   time.Weekday // day the slot ends
	End      time.Duration
	Location *time.Location // nil means Europe/London
}

// ParseMaintenanceSlot parses "Mon 20:00-Tue 06:00" (three-letter English
// day names, 24-hour times) in Europe/London time. name labels the slot.
func ParseMaintenanceSlot(name, spec string) (MaintenanceSlot, error) {
	loc, err := time.LoadLocation(London)
	if err != nil {
		return MaintenanceSlot{}, fmt.Errorf("cis: maintenance slot: %w", err)
	}
	from, to, ok := strings.Cut(spec, "-")
	if !ok {
		return MaintenanceSlot{}, fmt.Errorf("cis: maintenance slot %q: want \"Mon 20:00-Tue 06:00\"", spec)
	}
	sd, st, err := parseDayTime(from)
	if err != nil {
		return MaintenanceSlot{}, fmt.Errorf("cis: maintenance slot %q: %w", spec, err)
	}
	ed, et, err := parseDayTime(to)
	if err != nil {
		return MaintenanceSlot{}, fmt.Errorf("cis: maintenance slot %q: %w", spec, err)
	}
	if sd == ed && st == et {
		return MaintenanceSlot{}, fmt.Errorf("cis: maintenance slot %q: empty window", spec)
	}
	return MaintenanceSlot{Name: name, StartDay: sd, Start: st, EndDay: ed, End: et, Location: loc}, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func parseDayTime(s string) (time.Weekday, time.Duration, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%q: want a day and a time such as \"Mon 20:00\"", strings.TrimSpace(s))
	}
	d, ok := weekdays[strings.ToLower(f[0])]
	if !ok {
		return 0, 0, fmt.Errorf("%q: unknown day (use Mon, Tue, …)", f[0])
	}
	hh, mm, ok := strings.Cut(f[1], ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
		return 0, 0, fmt.Errorf("%q: want a 24-hour time such as 20:00", f[1])
	}
	return d, time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func (s MaintenanceSlot) loc() *time.Location {
	if s.Location != nil {
		return s.Location
	}
	if l, err := time.LoadLocation(London); err == nil {
		return l
	}
	return time.UTC
}

// String returns the slot as "Mon 20:00-Tue 06:00".
func (s MaintenanceSlot) String() string {
	day := func(d time.Weekday) string { return d.String()[:3] }
	hm := func(t time.Duration) string { return fmt.Sprintf("%02d:%02d", int(t.Hours()), int(t.Minutes())%60) }
	return day(s.StartDay) + " " + hm(s.Start) + "-" + day(s.EndDay) + " " + hm(s.End)
}

// Label returns the name and the window, e.g. "Spine CIS Mon 20:00-Tue 06:00".
func (s MaintenanceSlot) Label() string {
	if s.Name == "" {
		return s.String()
	}
	return s.Name + " " + s.String()
}

// Contains reports whether t falls inside the slot, and if so when this
// occurrence of the slot ends.
func (s MaintenanceSlot) Contains(t time.Time) (ends time.Time, ok bool) {
	loc := s.loc()
	lt := t.In(loc)
	// The occurrence containing t, if any, started within the last week.
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	back := (int(lt.Weekday()) - int(s.StartDay) + 7) % 7
	for _, b := range []int{back, back + 7} {
		day := midnight.AddDate(0, 0, -b)
		start := wallClock(day, s.Start, loc)
		span := (int(s.EndDay) - int(s.StartDay) + 7) % 7
		end := wallClock(day.AddDate(0, 0, span), s.End, loc)
		if !end.After(start) {
			end = wallClock(day.AddDate(0, 0, span+7), s.End, loc)
		}
		if !t.Before(start) && t.Before(end) {
			return end, true
		}
	}
	return time.Time{}, false
}

// wallClock is the instant at offset d past midnight of day's date in loc,
// read as wall-clock hours and minutes (so DST days keep "20:00" meaning 20:00).
func wallClock(day time.Time, d time.Duration, loc *time.Location) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), int(d.Hours()), int(d.Minutes())%60, 0, 0, loc)
}
