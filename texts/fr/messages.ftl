# L'e-mail de rappel, le SMS de rappel et l'aperçu quotidien du centre, en syntaxe Fluent
# (https://projectfluent.org). Les objets nomment l'hôpital et l'étude, jamais une information de santé.
# La mise en page autour de ces phrases est templates/email/*.txt (sans mots).

reminder_subject = Rappel de { $site_name } : { $forms ->
        [one] votre questionnaire
       *[other] vos questionnaires
    } pour l'étude { $study }
reminder_button = { $forms ->
        [one] Ouvrir le questionnaire
       *[other] Ouvrir les questionnaires
    }
reminder_greeting = Bonjour,
reminder_ready = { $forms ->
        [one] Un court questionnaire vous attend
       *[other] { $forms } courts questionnaires vous attendent
    } ({ $visit }).
reminder_by = { $forms ->
        [one] Pourriez-vous le remplir au plus tard le { $last_day } ?
       *[other] Pourriez-vous les remplir au plus tard le { $last_day } ?
    }
reminder_soon = { $forms ->
        [one] Pourriez-vous le remplir dès que possible ?
       *[other] Pourriez-vous les remplir dès que possible ?
    }
reminder_open_link = Ouvrez ce lien personnel et saisissez votre code PIN :
reminder_questions = Des questions ? { $site_name } : { $site_phone } — { $site_email }

sms_reminder = { $site_name } : questionnaire { $study } à remplir : { $link } (avec votre code PIN)

digest_subject = { $site_name } : aperçu quotidien { $study }, { $day }
digest_greeting = Bonjour,
digest_intro = L'aperçu de { $site_name } pour le { $day }.
digest_dashboard = Tableau de bord : { $link }
digest_call_today = À appeler aujourd'hui : { $link }
digest_section = { $title } :
digest_none = néant
digest_item = - { $what } : { $link }
digest_pain = douleur { $nrs }
digest_title_open = Visites ouvertes
digest_title_late = En retard (période de grâce)
digest_title_missed = Manquées ces 7 derniers jours
digest_title_failed = Rappels non envoyés
digest_title_no_email = Visite ouverte ou en retard sans adresse e-mail (aucun rappel n'est envoyé)
digest_title_no_pin = Visite ouverte ou en retard sans code PIN (aucun rappel n'est envoyé)
digest_title_flags = À évaluer pour un ESS (douleur en hausse de 2 points)
digest_kind_window_open = fenêtre ouverte
digest_kind_follow_up = rappel
digest_kind_closing = fenêtre bientôt fermée
digest_footer = Ce message est envoyé chaque matin au personnel de l'étude de { $site_name }. La langue se choisit sur les pages d'epro.
