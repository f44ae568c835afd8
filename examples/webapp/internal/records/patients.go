package records

// Patient is a fictional patient. NHS numbers are in the 999 range that
// NHS England keeps for testing, with valid check digits.
type Patient struct {
	NHSNumber   string
	Name        string
	Born        string // date of birth, YYYY-MM-DD
	Practice    string
	Allergies   []string
	Problems    []string
	Medications []string
}

// patients is the app's fictional patient list. Names include characters
// that must be escaped, as real names do.
var patients = []Patient{
	{NHSNumber: "9991234578", Name: "O'Neill, Siobhán", Born: "1957-03-14", Practice: "DR GI JONES' PRACTICE (C81611)",
		Allergies: []string{"Penicillin"}, Problems: []string{"Type 2 diabetes", "Hypertension"},
		Medications: []string{"Metformin 500 mg twice a day", "Ramipril 5 mg once a day"}},
	{NHSNumber: "9992469145", Name: "Okafor, Chidi", Born: "1989-11-02", Practice: "SAHA SN & DE G (B81108)",
		Allergies: nil, Problems: []string{"Asthma"}, Medications: []string{"Salbutamol inhaler as needed"}},
	{NHSNumber: "9993703710", Name: "Nguyen, Thi <Lan>", Born: "1972-06-30", Practice: "STIRLING MEDICAL CENTRE (S KUMAR) (B81012)",
		Allergies: []string{"Latex", "Aspirin"}, Problems: []string{"Migraine"}, Medications: []string{"Sumatriptan 50 mg as needed"}},
	{NHSNumber: "9994938282", Name: "Evans, Gareth", Born: "1944-01-21", Practice: "GRASSINGTON MEDICAL CENTRE (B82099)",
		Allergies: nil, Problems: []string{"Atrial fibrillation", "Chronic kidney disease stage 3"},
		Medications: []string{"Apixaban 2.5 mg twice a day", "Bisoprolol 2.5 mg once a day"}},
}

// patient returns the patient with the NHS number, or nil.
func patient(nhs string) *Patient {
	for i := range patients {
		if patients[i].NHSNumber == nhs {
			return &patients[i]
		}
	}
	return nil
}

// validNHSNumber reports whether s is ten digits whose last is the
// modulus 11 check digit of the first nine.
func validNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(s[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(s[9]-'0')
}
