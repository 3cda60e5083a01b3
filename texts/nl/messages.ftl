# The reminder email, the reminder SMS and the daily site digest, in Fluent syntax
# (https://projectfluent.org). Subjects name the hospital and the study, never health information.
# The layout around these sentences is templates/email/*.txt (no words there).

reminder_subject = Herinnering van { $site_name }: { $forms ->
        [one] uw vragenlijst
       *[other] uw vragenlijsten
    } voor de { $study }-studie
reminder_button = { $forms ->
        [one] Vragenlijst openen
       *[other] Vragenlijsten openen
    }
reminder_greeting = Beste deelnemer,
reminder_ready = { $forms ->
        [one] Er staat een korte vragenlijst voor u klaar
       *[other] Er staan { $forms } korte vragenlijsten voor u klaar
    } ({ $visit }).
reminder_by = Graag invullen uiterlijk op { $last_day }.
reminder_soon = Graag zo snel mogelijk invullen.
reminder_open_link = Open deze persoonlijke link en vul uw pincode in:
reminder_questions = Vragen? { $site_name }: { $site_phone } — { $site_email }

sms_reminder = { $site_name }: uw { $study }-vragenlijst staat klaar. Open { $link } met uw pincode.

digest_subject = { $site_name }: dagelijks overzicht { $study }, { $day }
digest_greeting = Goedemorgen,
digest_intro = Het overzicht van { $site_name } voor { $day }.
digest_dashboard = Dashboard: { $link }
digest_call_today = Vandaag bellen: { $link }
digest_section = { $title }:
digest_none = geen
digest_item = - { $what }: { $link }
digest_pain = pijn { $nrs }
digest_title_open = Open bezoeken
digest_title_late = Te laat (in de respijtperiode)
digest_title_missed = Gemist in de laatste 7 dagen
digest_title_failed = Herinneringen niet verstuurd
digest_title_no_email = Open of te laat bezoek zonder e-mailadres (er gaan geen herinneringen)
digest_title_no_pin = Open of te laat bezoek zonder pincode (er gaan geen herinneringen)
digest_title_flags = Beoordelen op SSE (pijn 2 punten hoger)
digest_kind_window_open = venster open
digest_kind_follow_up = herinnering
digest_kind_closing = venster sluit bijna
digest_footer = Dit bericht gaat elke ochtend naar de studiemedewerkers van { $site_name }. De taal kiest u op de epro-pagina's.
