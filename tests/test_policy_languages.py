"""Policy flags in every language we answer in: what needs a person is seen in all of them."""

from __future__ import annotations

import pytest

from agent.policy import raised_flags
from tests.test_language import WHERE_IS_MY_ORDER

# One message per flag and language, as a customer would write it.
MESSAGES = {
    "de": {
        "refund": "Ich möchte eine Rückerstattung für meine Bestellung.",
        "cancellation": "Bitte stornieren Sie meine Bestellung.",
        "legal": "Ich werde meinen Anwalt einschalten.",
        "anger": "Das ist eine Frechheit, reine Abzocke!",
        "data_request": "Bitte alle meine Daten löschen.",
        "human": "Ich will mit einem Menschen sprechen.",
    },
    "fr": {
        "refund": "Je veux être remboursé.",
        "cancellation": "Je voudrais annuler ma commande.",
        "legal": "Je vais contacter mon avocat.",
        "anger": "C'est une arnaque, c'est inadmissible !",
        "data_request": "Merci de supprimer mes données.",
        "human": "Je veux parler à une personne.",
    },
    "es": {
        "refund": "Quiero un reembolso.",
        "cancellation": "Quiero cancelar mi pedido.",
        "legal": "Voy a hablar con mi abogado.",
        "anger": "Esto es una estafa, es inaceptable.",
        "data_request": "Por favor, borrar mis datos.",
        "human": "Quiero hablar con una persona.",
    },
    "it": {
        "refund": "Vorrei un rimborso per il mio ordine.",
        "cancellation": "Voglio annullare il mio ordine.",
        "legal": "Mi rivolgerò al mio avvocato.",
        "anger": "È una truffa, inaccettabile!",
        "data_request": "Vi chiedo di cancellare i miei dati.",
        "human": "Voglio parlare con una persona.",
    },
    "pt": {
        "refund": "Quero o reembolso do meu pedido.",
        "cancellation": "Quero cancelar o meu pedido.",
        "legal": "Vou falar com o meu advogado.",
        "anger": "Isto é um golpe, inaceitável!",
        "data_request": "Por favor, apagar meus dados.",
        "human": "Quero falar com um atendente.",
    },
    "nl": {
        "refund": "Ik wil mijn geld terug.",
        "cancellation": "Ik wil mijn bestelling annuleren.",
        "legal": "Ik schakel mijn advocaat in.",
        "anger": "Dit is oplichting, echt schandalig!",
        "data_request": "Wilt u mijn gegevens verwijderen?",
        "human": "Ik wil spreken met een medewerker.",
    },
    "pl": {
        "refund": "Proszę o zwrot pieniędzy.",
        "cancellation": "Chcę anulować zamówienie.",
        "legal": "Skontaktuję się z prawnikiem.",
        "anger": "To jest oszustwo!",
        "data_request": "Proszę usunąć moje dane.",
        "human": "Chcę porozmawiać z człowiekiem.",
    },
    "tr": {
        "refund": "Paramı geri istiyorum.",
        "cancellation": "Siparişimi iptal etmek istiyorum.",
        "legal": "Avukatıma başvuracağım.",
        "anger": "Bu tam bir rezalet, dolandırıcılar!",
        "data_request": "Lütfen verilerimi silin.",
        "human": "Bir temsilciyle görüşmek istiyorum.",
    },
    "vi": {
        "refund": "Tôi muốn hoàn tiền.",
        "cancellation": "Tôi muốn hủy đơn hàng.",
        "legal": "Tôi sẽ nhờ luật sư.",
        "anger": "Đây là lừa đảo!",
        "data_request": "Hãy xóa dữ liệu cá nhân của tôi.",
        "human": "Tôi muốn nói chuyện với nhân viên.",
    },
    "ru": {
        "refund": "Верните деньги за заказ.",
        "cancellation": "Прошу отменить мой заказ.",
        "legal": "Я обращусь к адвокату.",
        "anger": "Это обман и безобразие!",
        "data_request": "Удалите мои персональные данные.",
        "human": "Соедините меня с оператором.",
    },
    "ar": {
        "refund": "أريد استرداد المبلغ.",
        "cancellation": "أريد إلغاء طلبي.",
        "legal": "سأتواصل مع محامي.",
        "anger": "هذا احتيال وغير مقبول!",
        "data_request": "أرجو حذف بياناتي.",
        "human": "أريد التحدث مع موظف.",
    },
    "zh": {
        "refund": "我要退款。",
        "cancellation": "请取消我的订单。",
        "legal": "我会找律师。",
        "anger": "你们就是骗子！",
        "data_request": "请删除我的个人信息。",
        "human": "我要转人工。",
    },
    "ja": {
        "refund": "返金してください。",
        "cancellation": "注文をキャンセルしたいです。",
        "legal": "弁護士に相談します。",
        "anger": "これは詐欺です。最悪です。",
        "data_request": "私の個人情報を削除してください。",
        "human": "オペレーターと話したいです。",
    },
    "ko": {
        "refund": "환불해 주세요.",
        "cancellation": "주문을 취소하고 싶어요.",
        "legal": "변호사와 상의하겠습니다.",
        "anger": "이건 사기예요. 최악입니다.",
        "data_request": "제 개인정보를 삭제해 주세요.",
        "human": "상담원과 이야기하고 싶어요.",
    },
    "th": {
        "refund": "ฉันต้องการคืนเงิน",
        "cancellation": "ฉันต้องการยกเลิกคำสั่งซื้อ",
        "legal": "ฉันจะปรึกษาทนาย",
        "anger": "นี่มันหลอกลวงชัดๆ",
        "data_request": "กรุณาลบข้อมูลส่วนตัวของฉัน",
        "human": "ขอคุยกับพนักงานหน่อย",
    },
}
CASES = [(lang, flag, text) for lang, flags in MESSAGES.items() for flag, text in flags.items()]


@pytest.mark.parametrize(("language", "flag", "text"), CASES)
def test_what_needs_a_person_is_flagged_in_every_language(language, flag, text):
    assert flag in {raised.name for raised in raised_flags(text)}


@pytest.mark.parametrize(("language", "text"), WHERE_IS_MY_ORDER.items())
def test_a_plain_order_question_raises_no_flag_in_any_language(language, text):
    assert raised_flags(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "What's the avg delivery time to Amsterdam?",
        "Ein leckeres Gericht mit diesem Topf?",
        "Sự kiện giảm giá khi nào?",
        "Hướng dẫn cài đặt",
    ],
)
def test_words_that_only_look_like_a_flag_raise_none(text):
    assert raised_flags(text) == []


@pytest.mark.parametrize(
    "message",
    [
        "Das ist inakzeptabel.",
        "C'est inacceptable.",
        "Dit is onacceptabel.",
        "To jest niedopuszczalne.",
        "Điều này không thể chấp nhận được.",
        "Это неприемлемо.",
        "这太让人无法接受了。",
    ],
)
def test_calling_it_unacceptable_is_anger_in_every_language(message):
    assert "anger" in {flag.name for flag in raised_flags(message)}
