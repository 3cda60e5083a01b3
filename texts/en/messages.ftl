# The reminder email, the reminder SMS and the daily site digest, in Fluent syntax
# (https://projectfluent.org). Subjects name the hospital and the study, never health information.
# The layout around these sentences is templates/email/*.txt (no words there).

reminder_subject = Reminder from { $site_name }: your { $forms ->
        [one] questionnaire
       *[other] questionnaires
    } for the { $study } study
reminder_button = { $forms ->
        [one] Open the questionnaire
       *[other] Open the questionnaires
    }
reminder_greeting = Hello,
reminder_ready = { $forms ->
        [one] A short questionnaire is ready for you
       *[other] { $forms } short questionnaires are ready for you
    } ({ $visit }).
reminder_by = { $forms ->
        [one] Please fill it in by { $last_day }.
       *[other] Please fill them in by { $last_day }.
    }
reminder_soon = { $forms ->
        [one] Please fill it in as soon as you can.
       *[other] Please fill them in as soon as you can.
    }
reminder_open_link = Open this personal link and enter your PIN:
reminder_questions = Questions? { $site_name }: { $site_phone } — { $site_email }

sms_reminder = { $site_name }: your { $study } questionnaire is ready. Open { $link } with your PIN.

digest_subject = { $site_name }: daily { $study } overview, { $day }
digest_greeting = Good morning,
digest_intro = The overview of { $site_name } for { $day }.
digest_dashboard = Dashboard: { $link }
digest_call_today = Call today: { $link }
digest_section = { $title }:
digest_none = none
digest_item = - { $what }: { $link }
digest_pain = pain { $nrs }
digest_title_open = Open visits
digest_title_late = Late (in the grace period)
digest_title_missed = Missed in the last 7 days
digest_title_failed = Reminders not sent
digest_title_no_email = Open or late visit, no email address (no reminders go out)
digest_title_no_pin = Open or late visit, no PIN (no reminders go out)
digest_title_flags = Assess for SSE (pain up 2 points)
digest_kind_window_open = window open
digest_kind_follow_up = follow-up
digest_kind_closing = window closing
digest_footer = This message goes to the study staff of { $site_name } every morning. Choose its language on the epro pages.
