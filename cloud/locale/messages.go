package locale

// messages are the pages' words: the English key, and its Spanish and
// French. Keys with fmt verbs keep them in every language.
var messages = map[string][2]string{
	// The header.
	"home":     {"inicio", "accueil"},
	"sign out": {"cerrar sesión", "se déconnecter"},

	// The sign-in page.
	"Sign in":                  {"Iniciar sesión", "Se connecter"},
	"Access token":             {"Token de acceso", "Jeton d'accès"},
	"That token is not valid.": {"Ese token no es válido.", "Ce jeton n'est pas valide."},

	// The store page.
	"Your store":                      {"Su tienda", "Votre magasin"},
	"Report a problem":                {"Informar de un problema", "Signaler un problème"},
	"Your reports":                    {"Sus avisos", "Vos signalements"},
	"No reports in the last %d days.": {"Ningún aviso en los últimos %d días.", "Aucun signalement ces %d derniers jours."},
	"Other open work orders":          {"Otras órdenes de trabajo abiertas", "Autres interventions en cours"},
	"Nothing open. All good.":         {"Nada abierto. Todo bien.", "Rien en cours. Tout va bien."},
	"Already reported: your report was added to work order #%s. No need to report it again.": {
		"Ya avisado: su aviso se añadió a la orden de trabajo n.º %s. No hace falta volver a avisar.",
		"Déjà signalé : votre signalement a été ajouté à l'intervention n° %s. Inutile de le signaler à nouveau."},
	"Thanks: work order #%s is open.": {"Gracias: la orden de trabajo n.º %s está abierta.", "Merci : l'intervention n° %s est ouverte."},

	// The store's say on a verified visit.
	"Fixed lately: is it still fixed?":          {"Reparado hace poco: ¿sigue bien?", "Réparé récemment : est-ce toujours réparé ?"},
	"Is it fixed?":                              {"¿Está reparado?", "Est-ce réparé ?"},
	"Yes, it is fixed":                          {"Sí, está reparado", "Oui, c'est réparé"},
	"No, it is not fixed":                       {"No, no está reparado", "Non, ce n'est pas réparé"},
	"How was the visit? 1 is bad, 5 is great":   {"¿Qué tal la visita? 1 es mala, 5 es excelente", "Comment s'est passée la visite ? 1 mauvaise, 5 excellente"},
	"Comment (optional)":                        {"Comentario (opcional)", "Commentaire (facultatif)"},
	"Send":                                      {"Enviar", "Envoyer"},
	"You said: fixed, %d of 5.":                 {"Usted dijo: reparado, %d de 5.", "Vous avez dit : réparé, %d sur 5."},
	"You said: not fixed, %d of 5.":             {"Usted dijo: no reparado, %d de 5.", "Vous avez dit : pas réparé, %d sur 5."},
	"Thanks for your answer on work order #%s.": {"Gracias por su respuesta sobre la orden de trabajo n.º %s.", "Merci pour votre réponse sur l'intervention n° %s."},
	"Thanks. Work order #%s goes back to the vendor to fix it.": {"Gracias. La orden de trabajo n.º %s vuelve al proveedor para repararlo.",
		"Merci. L'intervention n° %s retourne au prestataire pour la réparation."},
	"Thanks. Your facilities manager will look into work order #%s.": {"Gracias. Su responsable de mantenimiento revisará la orden de trabajo n.º %s.",
		"Merci. Votre responsable maintenance examinera l'intervention n° %s."},
	"Thanks. The problem is already being worked on another work order.": {"Gracias. El problema ya se está tratando en otra orden de trabajo.",
		"Merci. Le problème est déjà traité dans une autre intervention."},

	// A work order's state and progress, as the store reads them.
	"Received":             {"Recibido", "Reçu"},
	"Waiting for approval": {"Pendiente de aprobación", "En attente d'approbation"},
	"Vendor called":        {"Proveedor avisado", "Prestataire appelé"},
	"Vendor coming":        {"Proveedor en camino", "Prestataire en route"},
	"Technician on site":   {"Técnico en la tienda", "Technicien sur place"},
	"On hold":              {"En espera", "En attente"},
	"Fixed, being checked": {"Reparado, en comprobación", "Réparé, en vérification"},
	"Fixed and verified":   {"Reparado y verificado", "Réparé et vérifié"},
	"Closed":               {"Cerrado", "Clos"},
	"Cleared by itself":    {"Se resolvió solo", "Résolu de lui-même"},
	"Already reported":     {"Ya avisado", "Déjà signalé"},
	"Cancelled":            {"Cancelado", "Annulé"},
	"Reopened":             {"Reabierto", "Rouvert"},
	"Reported":             {"Avisado", "Signalé"},
	"Vendor":               {"Proveedor", "Prestataire"},
	"Vendor: %s":           {"Proveedor: %s", "Prestataire : %s"},
	"ETA %s":               {"Llega %s", "Arrivée %s"},
	"On site":              {"En la tienda", "Sur place"},
	"Fixed":                {"Reparado", "Réparé"},
	"Verified":             {"Verificado", "Vérifié"},

	// The report page.
	"Equipment":                              {"Equipo", "Équipement"},
	"Choose…":                                {"Elija…", "Choisir…"},
	"Whole store":                            {"Toda la tienda", "Tout le magasin"},
	"What is wrong?":                         {"¿Qué pasa?", "Quel est le problème ?"},
	"Details (optional)":                     {"Detalles (opcional)", "Détails (facultatif)"},
	"e.g. milk at 9°C, water on the floor":   {"p. ej. leche a 9 °C, agua en el suelo", "ex. lait à 9 °C, eau au sol"},
	"Photo (optional)":                       {"Foto (opcional)", "Photo (facultative)"},
	"Urgency":                                {"Urgencia", "Urgence"},
	"Normal":                                 {"Normal", "Normale"},
	"Urgent: food at risk now":               {"Urgente: alimentos en riesgo ya", "Urgent : aliments en danger"},
	"High":                                   {"Alta", "Haute"},
	"Send report":                            {"Enviar aviso", "Envoyer"},
	"The photo is too large (6 MB at most).": {"La foto es demasiado grande (6 MB como máximo).", "La photo est trop lourde (6 Mo au plus)."},
	"Not cold enough":                        {"No enfría lo suficiente", "Pas assez froid"},
	"Too cold / freezing":                    {"Demasiado frío / congela", "Trop froid / gèle"},
	"Not cooling at all":                     {"No enfría nada", "Ne refroidit plus du tout"},
	"Ice building up":                        {"Se acumula hielo", "Du givre s'accumule"},
	"Water leaking":                          {"Pierde agua", "Fuite d'eau"},
	"Door won't close / damaged":             {"La puerta no cierra / dañada", "La porte ne ferme pas / abîmée"},
	"Strange noise":                          {"Ruido extraño", "Bruit étrange"},
	"Lights out":                             {"Luces apagadas", "Éclairage éteint"},
	"Something else":                         {"Otra cosa", "Autre chose"},
}

// Has reports whether key is a message the catalogue translates.
func Has(key string) bool {
	_, ok := messages[key]
	return ok
}
