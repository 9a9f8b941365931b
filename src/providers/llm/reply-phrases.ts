/**
 * The words around a quoted answer, in each language the local model writes (issue 12): the
 * greeting, the introduction, the closing and the hand-off. Written by people, never generated,
 * so a reply in French reads as French. A language missing here gets a hand-off, not English.
 */

/** The framing of a reply in one language. */
export interface ReplyPhrases {
  /** The first line: `Hello Ana,`, or `Hello,` without a name. */
  greeting(name: { given: string; full: string } | undefined): string;
  /** The sentence before the quote. */
  introduction: string;
  /** Label of the line that cites the quoted page. */
  source: string;
  /** After the quote: an automatic reply, and how to reach a person. */
  closing: string;
  /** The body of a reply that has no answer to quote. */
  handoff: string;
  /** The line above the signature. */
  signOff: string;
  /** The signature when the mailbox configures none. */
  signature: string;
}

const english: ReplyPhrases = {
  greeting: (name) => (name ? `Hello ${name.given},` : 'Hello,'),
  introduction: 'Thank you for your message. Here is what our product documentation says about this:',
  source: 'Source:',
  closing:
    'This reply was prepared automatically from our product documentation. If it does not solve your problem, ' +
    'reply to this email and a member of our support team will help you.',
  handoff: 'Thank you for your message. Our documentation does not answer your question, so a member of our support team ' + 'will get back to you personally.',
  signOff: 'Kind regards,',
  signature: 'Customer Support',
};

/** Phrases by ISO 639-1 code. */
export const REPLY_PHRASES: Readonly<Record<string, ReplyPhrases>> = {
  en: english,
  fr: {
    greeting: (name) => (name ? `Bonjour ${name.given},` : 'Bonjour,'),
    introduction: 'Merci pour votre message. Voici ce que dit la documentation de nos produits à ce sujet :',
    source: 'Source :',
    closing:
      'Cette réponse a été préparée automatiquement à partir de la documentation de nos produits. Si elle ne résout pas ' +
      'votre problème, répondez à cet e-mail et un membre de notre équipe d’assistance vous aidera.',
    handoff:
      'Merci pour votre message. Notre documentation ne répond pas à votre question ; un membre de notre équipe ' +
      'd’assistance reviendra vers vous personnellement.',
    signOff: 'Cordialement,',
    signature: 'Le service client',
  },
  de: {
    // After "Hallo Ana," a German letter goes on in lower case.
    greeting: (name) => (name ? `Hallo ${name.given},` : 'Guten Tag,'),
    introduction: 'vielen Dank für Ihre Nachricht. Unsere Produktdokumentation sagt dazu Folgendes:',
    source: 'Quelle:',
    closing:
      'Diese Antwort wurde automatisch aus unserer Produktdokumentation erstellt. Falls sie Ihr Problem nicht löst, ' +
      'antworten Sie einfach auf diese E-Mail, und ein Mitglied unseres Support-Teams hilft Ihnen weiter.',
    handoff:
      'vielen Dank für Ihre Nachricht. Unsere Dokumentation beantwortet Ihre Frage nicht, daher meldet sich ein ' +
      'Mitglied unseres Support-Teams persönlich bei Ihnen.',
    signOff: 'Mit freundlichen Grüßen',
    signature: 'Ihr Kundenservice',
  },
  es: {
    greeting: (name) => (name ? `Hola, ${name.given}:` : 'Hola:'),
    introduction: 'Gracias por su mensaje. Esto es lo que dice la documentación de nuestros productos al respecto:',
    source: 'Fuente:',
    closing:
      'Esta respuesta se ha preparado automáticamente a partir de la documentación de nuestros productos. Si no ' +
      'resuelve su problema, responda a este correo y un miembro de nuestro equipo de soporte le ayudará.',
    handoff:
      'Gracias por su mensaje. Nuestra documentación no responde a su pregunta, por lo que un miembro de nuestro ' +
      'equipo de soporte se pondrá en contacto con usted personalmente.',
    signOff: 'Atentamente,',
    signature: 'Atención al cliente',
  },
  ja: {
    // A Japanese letter names the customer in full, with the honorific 様.
    greeting: (name) => (name ? `${name.full} 様` : 'お客様'),
    introduction: 'お問い合わせいただき、ありがとうございます。製品ドキュメントには次のように記載されています。',
    source: '出典:',
    closing:
      'この返信は製品ドキュメントをもとに自動で作成されました。問題が解決しない場合は、このメールにご返信ください。' + 'サポート担当者が対応いたします。',
    handoff:
      'お問い合わせいただき、ありがとうございます。製品ドキュメントではご質問への回答が見つかりませんでしたので、' +
      'サポート担当者より改めてご連絡いたします。',
    signOff: 'よろしくお願いいたします。',
    signature: 'カスタマーサポート',
  },
};

/**
 * The phrases for an ISO 639-1 code: English when the language is unknown (absent or `und`),
 * undefined for a language this table does not hold.
 */
export function phrasesFor(language: string | undefined): ReplyPhrases | undefined {
  const code = (language ?? '').toLowerCase().split(/[-_]/)[0];
  return code === '' || code === 'und' ? english : REPLY_PHRASES[code];
}
